"""Running a training step eagerly, or on CUDA as a captured graph replayed with one launch.

Capture needs a few eager warm-up calls on a side stream (allocator and cuBLAS workspaces settle), then
records one call of the step; every later call replays the recording. Nothing in the step may read a
value on the host, and every tensor it reads must stay where it was at capture: the engine refills its
buffers in place. If capture raises (an operation that cannot be captured, a driver that refuses), the
run goes on eagerly on the same stream and `fallback` says why in one line, which the run records.

Streams: the run's steps are queued on its own stream, so several runs on one GPU overlap. The host
refills the step's buffers on the current stream between epochs, so two waits order them:
`before_refill()` (the current stream waits for the queued steps, which still read the old buffers) and
`after_refill()` (the run's stream waits for the refill). Neither blocks the host.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

cuda = torch.cuda  # looked up at call time, so that a test can observe the stream calls without a GPU
CAPTURE_AFTER = 3  # eager warm-up calls on the side stream before capture


class EagerStep:
    """The step as a plain call; gradients start empty each time."""

    fallback: str | None = None
    graph = None

    def __init__(self, step: Callable[[], None], optimizer: torch.optim.Optimizer):
        self.step, self.optimizer = step, optimizer

    def __call__(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.step()

    def before_refill(self) -> None:
        pass

    def after_refill(self) -> None:
        pass

    def drain(self) -> None:
        pass


class GraphedStep(EagerStep):
    """The step on the run's own CUDA stream: CAPTURE_AFTER eager calls, then captured once and replayed."""

    def __init__(self, step: Callable[[], None], optimizer: torch.optim.Optimizer, device: torch.device):
        super().__init__(step, optimizer)
        self.device, self.stream = device, cuda.Stream(device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_calls = 0

    def __call__(self) -> None:
        if self.graph is not None:
            with cuda.stream(self.stream):
                self.graph.replay()
            return
        if self.fallback is None and self.eager_calls >= CAPTURE_AFTER:
            try:
                self.capture()
                return
            except Exception as e:  # noqa: BLE001 - any capture failure means: go on eagerly
                self.graph = None
                self.fallback = (f"CUDA graph capture failed ({type(e).__name__}: "
                                 f"{(str(e).strip().splitlines() or [''])[0]}); training eagerly")
                print(f"warning: {self.fallback}")
        with cuda.stream(self.stream):
            super().__call__()
        self.eager_calls += 1

    def capture(self) -> None:
        """Record one step (recording does not run it), then replay it for this step."""
        cuda.current_stream(self.device).wait_stream(self.stream)
        self.optimizer.zero_grad(set_to_none=True)  # gradients are then allocated in the graph's pool
        graph = cuda.CUDAGraph()
        with cuda.graph(graph, stream=self.stream):
            self.step()
        self.graph = graph
        with cuda.stream(self.stream):
            graph.replay()

    def before_refill(self) -> None:
        cuda.current_stream(self.device).wait_stream(self.stream)

    def after_refill(self) -> None:
        self.stream.wait_stream(cuda.current_stream(self.device))

    def drain(self) -> None:
        cuda.current_stream(self.device).wait_stream(self.stream)
