"""Many runs on one device at once. On CUDA, K runs train in one process with their epochs interleaved, each
with its own model, optimiser, generators, folder, stream and captured graph, so the GPU overlaps their small
kernels; finished runs are evaluated in worker processes while the others train. On a CPU, K runs train and
evaluate in K worker processes that split its cores (isogen.processes).

Why one process with streams on a GPU: the data set is loaded once and every run's images share it, one host
thread keeps K graphs fed (a replay is one launch), and a run that fails is an exception caught here,
recorded, and dropped, while the others go on. Why processes on a CPU: a small network's step does not keep
two cores busy (2-core AMD EPYC, Zen 4, 2026-12-02: sigreg-sphere's encoder step takes 148-177 ms on both
cores, 286 ms on one, and 253-287 ms on one while another run steps on the other, 1.03-1.34x by the
measurement; study-probe's decoder-only runs finished 1.2x as fast two at a time). A killed launcher loses at
most the epochs in flight: every run resumes from its last checkpoint and finished runs are skipped.
"""
from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm

from .codes import encoder_digest
from .config import Config
from .data import Dataset, load_dataset
from .errors import IsogenError
from .files import read_json
from .memory import estimate_bytes, free_bytes
from .metrics.evaluate import EvalOptions, evaluate_run
from .runs import load_run, resolve_device
from .sample import run_samplers, write_run_pictures
from .train import Run

MAX_CONCURRENT = 16  # beyond this one host thread cannot launch fast enough to keep every stream busy
CPU_PROCESSES = 2  # runs a study trains at once on a CPU (the module docstring's measurements)


@dataclass
class Job:
    name: str
    config: Config
    run_dir: Path
    eval: EvalOptions = field(default_factory=EvalOptions)
    needs: Path | None = None  # the run folder whose trained encoder this run decodes: it trains after that run
    retrain: bool = False  # a finished run trained again for its checkpoint: evaluated again only if it differs


def choose_concurrency(jobs: list[Job], device: torch.device) -> int:
    """How many runs to train at once: 1 on a CPU (its cores are already busy with one); on CUDA as many
    as the free memory holds with the largest run's estimate plus a graph's pool again, at most 16."""
    if device.type != "cuda" or not jobs:
        return 1
    largest = max(sum(estimate_bytes(j.config, j.config.train_subset or 60000).values()) for j in jobs)
    return max(1, min(MAX_CONCURRENT, len(jobs), int(0.8 * free_bytes(device) // (2 * largest))))


def study_launcher(launcher: str, device: torch.device) -> str:
    """"auto": a CPU's runs in worker processes, a GPU's interleaved in this process ("local")."""
    return ("processes" if device.type == "cpu" else "local") if launcher == "auto" else launcher


def study_concurrency(jobs: list[Job], device: torch.device, launcher: str) -> int:
    """Runs a study trains at once: in worker processes CPU_PROCESSES if the CPU has the cores; in this process
    as many as the memory holds (choose_concurrency)."""
    if launcher == "processes":
        return max(1, min(CPU_PROCESSES, torch.get_num_threads(), len(jobs)))
    return choose_concurrency(jobs, device)


class Evaluations:
    """Evaluates finished runs: in `workers` background processes (0: right away, in this process)."""

    def __init__(self, device: str, workers: int, datasets: dict[tuple, Dataset],
                 on_done: Callable[[str, Exception | None], None]):
        self.device, self.datasets, self.on_done, self.workers = device, datasets, on_done, workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) if workers else None
        self.pending: list[tuple[str, Future]] = []

    def submit(self, job: Job) -> None:
        if self.pool is None:
            try:
                evaluate(job, self.device, self.datasets)
                self.on_done(job.name, None)
            except Exception as e:  # noqa: BLE001 - recorded; the other runs go on
                self.on_done(job.name, e)
        else:
            try:
                future = self.pool.submit(evaluate, job, self.device)
            except BrokenProcessPool:  # a worker died earlier: its runs are recorded (collect); start a new pool
                self.pool.shutdown(wait=False)
                self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
                future = self.pool.submit(evaluate, job, self.device)
            self.pending.append((job.name, future))
        self.collect(wait=False)

    def collect(self, wait: bool) -> None:
        for name, future in list(self.pending):
            if wait or future.done():
                self.pending.remove((name, future))
                error = future.exception()
                if isinstance(error, BrokenProcessPool):  # killed (out of memory?) or crashed: say which run
                    error = IsogenError("its evaluation worker process died before finishing; the run is "
                                        "trained: rerun the study to evaluate it")
                self.on_done(name, error)

    def close(self) -> None:
        self.collect(wait=True)
        if self.pool is not None:
            self.pool.shutdown()


_WORKER_DATA: dict[tuple, Dataset] = {}  # an evaluation worker keeps the data sets it loaded for its next jobs


def evaluate(job: Job, device: str, datasets: dict[tuple, Dataset] = _WORKER_DATA) -> None:
    """A trained run's pictures (drawn here, off the training loop) and its evaluation. A run trained again
    for its checkpoint keeps its metrics if its encoder came out as the one they describe."""
    config, method, model = load_run(job.run_dir, resolve_device(device))
    if job.retrain:
        measured = read_json(job.run_dir / "metrics.json")["protocol"].get("encoder_sha256")
        if measured == encoder_digest(model):
            print(f"{job.name}: retrained from its seed, the same encoder bit for bit; its metrics stand")
            return
        print(f"{job.name}: retrained from its seed, but the encoder differs from the one its metrics describe "
              "(another machine or device); evaluating it again")
    data = dataset_for(config, datasets)
    write_run_pictures(job.run_dir, config, method, model, run_samplers(job.run_dir, method, model, data), data)
    evaluate_run(job.run_dir, job.eval, device, data=data, progress=False)


def dataset_for(config: Config, datasets: dict[tuple, Dataset]) -> Dataset:
    source = (config.dataset, config.data_dir)
    if source not in datasets:
        datasets[source] = load_dataset(config.dataset, config.data_dir)
    return datasets[source]


def train_all(jobs: list[Job], concurrent: int, datasets: dict[tuple, Dataset],
              on_trained: Callable[[Job], None], on_failed: Callable[[str, Exception], None],
              progress: bool = True, pictures: bool = True, fit: bool = True) -> None:
    """Train every job, `concurrent` at a time with interleaved epochs; a finished run (samplers fitted unless
    fit=False, when its evaluation fits them off this loop; pictures drawn unless pictures=False) goes to
    `on_trained`, a failing one to `on_failed`, and the others continue. An error that breaks the device for
    the whole process (a CUDA device-side assert) stops them all with StudyStopped."""
    waiting, active = list(jobs), []
    untrained = {job.run_dir: job.name for job in jobs}  # a run that needs one of these waits for it
    failed: set[Path] = set()
    bar = tqdm(total=len(jobs), desc="runs trained", disable=not progress)

    def attempt(job: Job, action: Callable[[], object]) -> bool:
        try:
            action()
            return True
        except Exception as e:  # noqa: BLE001 - any failure of one run is recorded, the others go on
            if device_oom(e):
                e = IsogenError(f"out of memory while training {job.name}: {first_line(e)}; "
                                "lower embed_dim or batch_size, or train fewer runs at once (--concurrent)")
            on_failed(job.name, e)
            failed.add(job.run_dir)
            bar.update(1)
            if sticky_device_error(e):  # the process's CUDA context is broken: every later run would fail too
                raise StudyStopped(f"a CUDA error that stays with the process stopped the study at {job.name} "
                                   f"({first_line(e)}); finished runs are saved: run it again to continue") from e
            return False

    def start(job: Job) -> list[tuple[Job, Run]]:
        built: list[Run] = []
        attempt(job, lambda: built.append(Run(job.config, job.run_dir, resume=True,
                                              data=dataset_for(job.config, datasets))))
        return [(job, run) for run in built]

    def hand_on(job: Job, run: Run) -> None:  # trained: fit and save the samplers (maybe draw), pass it on
        if run.finished or attempt(job, lambda: run.finish(pictures, fit)):
            untrained.pop(job.run_dir, None)
            bar.update(1)
            on_trained(job)

    def next_ready() -> Job | None:  # the first waiting job whose encoder's run is trained (or failed)
        for job in waiting:
            if job.needs in failed:
                waiting.remove(job)
                attempt(job, partial(_raise, IsogenError(f"the run whose encoder it decodes ({job.needs.name}) "
                                                         "failed")))
                return next_ready()
            if job.needs not in untrained:
                waiting.remove(job)
                return job
        return None

    while waiting or active:
        while waiting and len(active) < concurrent and (job := next_ready()) is not None:
            active += start(job)
        if waiting and not active and next_ready() is None:  # nothing trains that they could wait for
            for job in list(waiting):
                waiting.remove(job)
                attempt(job, partial(_raise, IsogenError(f"it decodes {job.needs}, which this study does not train")))
        for job, run in [(job, run) for job, run in active if run.done]:
            hand_on(job, run)
        # one epoch of every unfinished run, their steps interleaved; a run that raises drops out
        active = [(job, run) for job, run in active if not run.done and attempt(job, run.begin_epoch)]
        for i in range(max((run.steps_per_epoch for _, run in active), default=0)):
            active = [(job, run) for job, run in active if i >= run.steps_per_epoch or attempt(job, run.step)]
        active = [(job, run) for job, run in active if attempt(job, run.end_epoch)]
        if active:
            epochs = sorted(run.epoch for _, run in active)
            bar.set_postfix_str(f"{len(active)} training, epoch {epochs[0]}"
                                + (f"-{epochs[-1]}" if epochs[-1] != epochs[0] else "")
                                + f" of {max(run.config.total_epochs for _, run in active)}")
    bar.close()


def _raise(error: Exception) -> None:
    raise error


class StudyStopped(IsogenError):
    pass


def sticky_device_error(error: BaseException) -> bool:
    """A CUDA error after which every call in this process fails (a device-side assert, an illegal address);
    running out of memory is not one."""
    return not device_oom(error) and (type(error).__name__ == "AcceleratorError" or "CUDA error" in str(error))


def device_oom(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "can't allocate memory" in str(error)


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def describe_failure(error: BaseException) -> str:
    """One line for a failure record: the message of an IsogenError, else the exception and where it was raised."""
    if isinstance(error, IsogenError):
        return str(error)
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    return f"{type(error).__name__}: {first_line(error)}" + (f" ({where.filename}:{where.lineno})" if where else "")
