"""The graphed step's stream discipline and its fallback, observed on the CPU through a stand-in for
torch.cuda that records every stream call (no GPU needed): the buffers are refilled only after the queued
steps are done and before the next ones start; a capture that fails leaves the run training eagerly."""
import json
from contextlib import contextmanager

import torch

import isogen.cuda_graph as cuda_graph
import isogen.engine as engine_module
from isogen.config import make_config
from isogen.cuda_graph import CAPTURE_AFTER, GraphedStep
from isogen.engine import Engine, new_model
from isogen.methods import make_method
from isogen.stages import EncoderStage


class FakeStream:
    def __init__(self, name, events):
        self.name, self.events = name, events

    def wait_stream(self, other):
        self.events.append(f"{self.name} waits for {other.name}")


class FakeCuda:
    """torch.cuda's stream and graph calls, recorded; `graph` fails when asked to (as an uncapturable op does)."""

    def __init__(self, events, fail_capture=False):
        self.events, self.fail_capture = events, fail_capture
        self.current = FakeStream("current", events)

    def Stream(self, device):  # noqa: N802 - torch.cuda's name
        return FakeStream("run", self.events)

    def current_stream(self, device):
        return self.current

    @contextmanager
    def stream(self, stream):
        self.events.append(f"on {stream.name}")
        yield

    def CUDAGraph(self):  # noqa: N802
        return object()

    @contextmanager
    def graph(self, graph, stream):
        if self.fail_capture:
            raise RuntimeError("operation not permitted when stream is capturing\nmore detail")
        yield


def engine(mnist, monkeypatch, events, fail_capture=False, graphed=True):
    config = make_config("smoke", {"device": "cpu"})
    torch.manual_seed(0)
    method = make_method(config)
    out = Engine(EncoderStage(method), new_model(method, torch.device("cpu")), mnist.train_images[:1024], config)
    if graphed:
        monkeypatch.setattr(cuda_graph, "cuda", FakeCuda(events, fail_capture))
        out.runner = GraphedStep(out.train_step, out.optimizer, torch.device("cpu"))
    return out


def test_buffers_are_refilled_after_the_queued_steps_and_before_the_next(mnist, monkeypatch):
    events = []
    original = engine_module.generator
    monkeypatch.setattr(engine_module, "generator", lambda *a: events.append("refill") or original(*a))
    e = engine(mnist, monkeypatch, events)
    for epoch in range(2):
        e.begin_epoch(epoch)
        e.step()
        e.end_epoch()
    starts = [i for i, event in enumerate(events) if event == "refill"]
    for i in starts:  # the second epoch's refill waits for the first epoch's queued steps
        assert events[i - 1] == "current waits for run" and "run waits for current" in events[i + 1:i + 2]


def test_a_failed_capture_falls_back_to_eager_steps_that_compute_the_same(mnist, monkeypatch, tmp_path):
    events = []
    failing = engine(mnist, monkeypatch, events, fail_capture=True)
    failing.begin_epoch(0)
    for _ in range(failing.steps_per_epoch):
        failing.step()
    terms = failing.end_epoch()
    assert failing.runner.graph is None and failing.runner.fallback.startswith(
        "CUDA graph capture failed (RuntimeError: operation not permitted when stream is capturing); training eagerly")
    assert failing.runner.eager_calls == failing.steps_per_epoch  # every step ran, none twice
    eager = engine(mnist, monkeypatch, [], graphed=False)
    eager.begin_epoch(0)
    for _ in range(eager.steps_per_epoch):
        eager.step()
    assert torch.equal(terms, eager.end_epoch())


def test_the_run_records_the_fallback_in_its_environment(mnist, monkeypatch, tmp_path):
    from isogen.train import train

    built = Engine.__init__

    def graphed_with_failing_capture(self, *args, **kwargs):
        built(self, *args, **kwargs)
        self.runner = GraphedStep(self.train_step, self.optimizer, self.device)

    monkeypatch.setattr(cuda_graph, "cuda", FakeCuda([], fail_capture=True))
    monkeypatch.setattr(Engine, "__init__", graphed_with_failing_capture)
    train(make_config("smoke", {"epochs": "1", "device": "cpu"}), tmp_path / "run", progress=False, data=mnist,
          pictures=False)
    environment = json.loads((tmp_path / "run" / "environment.json").read_text())
    assert environment["cuda_graph_fallback"].startswith("CUDA graph capture failed (RuntimeError")
    assert CAPTURE_AFTER < 8  # the smoke epoch is long enough to reach the capture
