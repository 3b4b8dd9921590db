"""A CPU study's runs in worker processes: K at once, each trained and evaluated in its own process with an
equal share of the cores (isogen.launcher's docstring says why on a CPU), a run that decodes another run's
encoder started once that run is done. A worker dies with the study that started it."""
from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

import torch
from tqdm import tqdm

from .errors import IsogenError
from .launcher import _WORKER_DATA, Job, evaluate, train_all


def start_worker(threads: int) -> None:
    """A CPU worker's start: its share of the cores, and (on Linux) its death with the study that started it,
    so that a killed study leaves no orphan training a run that the next invocation will train too."""
    torch.set_num_threads(threads)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def train_and_evaluate(job: Job, device: str) -> None:
    """One run from start (or its last checkpoint) to metrics.json, in a worker process; raises its failure."""
    errors: list[Exception] = []
    train_all([job], 1, _WORKER_DATA, lambda trained: evaluate(trained, device),
              lambda _, error: errors.append(error), progress=False, pictures=False, fit=False)
    if errors:
        raise errors[0]


def train_in_processes(jobs: list[Job], processes: int, device: str,
                       on_done: Callable[[str, BaseException | None], None], progress: bool = True) -> None:
    """Train and evaluate the jobs on a CPU, `processes` at a time, each in a worker process with an equal share
    of the cores; a job that decodes another job's encoder starts once that job is done (and fails if it
    failed). on_done(name, error or None) as each finishes."""
    threads = max(1, torch.get_num_threads() // processes)
    untrained, failed = {job.run_dir for job in jobs}, set()
    waiting, running = list(jobs), {}
    bar = tqdm(total=len(jobs), desc="runs done", disable=not progress)
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"), initializer=start_worker,
                             initargs=(threads,)) as pool:
        while waiting or running:
            for job in [job for job in waiting if job.needs not in untrained or job.needs in failed]:
                if len(running) == processes:
                    break
                waiting.remove(job)
                if job.needs in failed:
                    failed.add(job.run_dir)
                    on_done(job.name, IsogenError(f"the run whose encoder it decodes ({job.needs.name}) failed"))
                    bar.update(1)
                    continue
                running[pool.submit(train_and_evaluate, job, device)] = job
            if not running:  # what is left waits for runs this study does not train
                for job in waiting:
                    on_done(job.name, IsogenError(f"it decodes {job.needs}, which this study does not train"))
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                error = future.exception()
                if isinstance(error, BrokenProcessPool):
                    raise IsogenError(f"a worker process died while training {job.name} (out of memory?); finished "
                                      "runs are saved: run the study again to continue") from error
                if error is None:
                    untrained.discard(job.run_dir)
                else:
                    failed.add(job.run_dir)
                on_done(job.name, error)
                bar.update(1)
    bar.close()
