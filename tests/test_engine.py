"""The training step as a fixed program: what it reads, what it writes, and (where CUDA exists) that
its CUDA graph computes what the eager step computes."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from isogen.config import make_config
from isogen.engine import Engine, learning_rate, new_model
from isogen.methods import METHODS, make_method
from isogen.stages import DecoderStage, EncoderStage

HOST_READS = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.item.default,
              torch.ops.aten.nonzero.default}  # .item(), bool(), data-dependent shapes: each a sync on CUDA


class HostReads(TorchDispatchMode):
    """Records every operator that needs a tensor's value on the host."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in HOST_READS:
            self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


def engine_for(mnist, device="cpu", **overrides):
    config = make_config("smoke", {"device": device, **{k: str(v) for k, v in overrides.items()}})
    torch.manual_seed(config.seed)
    method = make_method(config).to(device)
    return Engine(EncoderStage(method), new_model(method, device), mnist.train_images[:1024].to(device), config)


def test_learning_rate_schedule():
    config = make_config("smoke", {"lr": "1.0", "warmup_steps": "10", "min_lr_ratio": "0.1"})
    assert learning_rate(0, config, 110) == pytest.approx(0.1)
    assert learning_rate(9, config, 110) == pytest.approx(1.0)
    assert learning_rate(60, config, 110) == pytest.approx(0.1 + 0.9 * 0.5)
    assert learning_rate(110, config, 110) == pytest.approx(0.1)
    assert learning_rate(60, config, 110, peak=3.0) == pytest.approx(3 * (0.1 + 0.9 * 0.5))  # the decoder's own


@pytest.mark.parametrize("name, decoder", [(name, "deconv") for name in METHODS] + [("sigreg-sphere", "flow"),
                                                                                   ("vae", "flow")])
def test_a_step_never_reads_a_value_on_the_host(name, decoder, mnist):
    engine = engine_for(mnist, method=name, decoder=decoder)
    engine.begin_epoch(0)
    engine.step()  # the first step allocates the log buffer
    with HostReads() as spy:
        engine.step()
    assert spy.seen == []
    with HostReads() as control:  # the spy does see a host read
        torch.ones(2).sum().item()
    assert control.seen


def test_the_step_advances_its_own_counters_learning_rate_and_log(mnist):
    engine = engine_for(mnist, lr=0.01, warmup_steps=4)
    engine.begin_epoch(0)
    for k in range(3):
        engine.step()
        assert int(engine.epoch_step) == int(engine.global_step) == k + 1
        assert float(engine.lr) == pytest.approx(learning_rate(k, engine.config, engine.total_steps))
    terms = engine.end_epoch()
    assert engine.term_names == ["loss", "infonce", "sigreg", "recon_bce"]
    assert terms.shape == (engine.steps_per_epoch, 4) and (terms[:3] != 0).all() and (terms[3:] == 0).all()
    # the total is the weighted sum of the terms the step logged
    assert torch.allclose(terms[:3, 0], terms[:3, 1] + 0.1 * terms[:3, 2] + terms[:3, 3], rtol=1e-5)


def test_each_epoch_refills_the_same_buffers_with_new_randomness(mnist):
    engine = engine_for(mnist)
    engine.begin_epoch(0)
    buffers = {name: (value.data_ptr(), value.clone()) for name, value in engine.noise.items()}
    order = engine.order.clone()
    engine.begin_epoch(1)
    for name, (pointer, before) in buffers.items():
        assert engine.noise[name].data_ptr() == pointer and not torch.equal(engine.noise[name], before), name
    assert not torch.equal(engine.order, order)
    engine.begin_epoch(0)  # epoch e's randomness is a function of (seed, e) alone: a resume redraws it
    assert all(torch.equal(engine.noise[name], before) for name, (_, before) in buffers.items())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
@pytest.mark.parametrize("name", ["sigreg-sphere", "vae", "hs-vae", "align-uniform"])
def test_cuda_graph_replays_the_eager_step(name, mnist):
    """Same seed, same data: the graphed run and the eager run log the same losses (bf16 tolerance)."""
    logs = []
    for graphed in (False, True):
        engine = engine_for(mnist, "cuda", method=name, cuda_graph=graphed, epochs=3)
        for epoch in range(3):
            engine.begin_epoch(epoch)
            # by the last epoch the graph is captured: its replays must not synchronise with the host
            torch.cuda.set_sync_debug_mode("error" if graphed and epoch == 2 else "default")
            try:
                for _ in range(engine.steps_per_epoch):
                    engine.step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
            logs.append(engine.end_epoch())
        assert (engine.runner.graph is not None) == graphed
    eager, graphed = torch.cat(logs[:3]), torch.cat(logs[3:])
    assert torch.allclose(eager, graphed, rtol=2e-2, atol=1e-3), (eager - graphed).abs().max()


def test_the_decoder_stage_peaks_at_its_own_learning_rate(mnist):
    config = make_config("smoke", {"device": "cpu", "lr": "0.01", "decoder_lr": "0.05", "warmup_steps": "2",
                                   "decoder_epochs": "1", "method": "sigreg-sphere"})
    method = make_method(config)
    model = new_model(method, torch.device("cpu"))
    codes = torch.nn.functional.normalize(torch.randn(1024, config.embed_dim), dim=1)
    images = mnist.train_images[:1024]
    decoder = Engine(DecoderStage(method, codes), model, images, config)
    encoder = Engine(EncoderStage(method), model, images, config)
    assert float(decoder.schedule.max()) == pytest.approx(0.05) and float(encoder.schedule.max()) == pytest.approx(0.01)
