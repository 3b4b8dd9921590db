"""A study's runs on a Slurm cluster, as one job array through submitit: one task per run. A task trains
its run folder (resuming from the folder's checkpoint, if any) and evaluates it exactly as a local study
does, so the report is gathered from the same folders. A task that Slurm preempts or times out is
requeued by submitit (`Checkpointable`) and resumes from its last checkpoint; a finished run is skipped.

`--launcher submitit` needs Slurm on the machine (the cluster's login node); `--launcher submitit-local`
runs the same tasks as local processes through submitit's LocalExecutor, to try the path without one.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .errors import IsogenError
from .launcher import Job, describe_failure, evaluate, train_all

LAUNCHERS = ("auto", "local", "processes", "submitit", "submitit-local")


@dataclass
class SlurmOptions:
    partition: str = ""  # "" = the cluster's default partition
    time_min: int = 60  # per task; a task that runs out is requeued and resumes
    gpus_per_task: int = 1
    cpus_per_task: int = 8
    mem_gb: int = 32
    array_parallelism: int = 64  # tasks of the array running at once


class RunTask:
    """One run of a study: train it (resuming) and evaluate it. Returns None, or the failure in one line."""

    def __call__(self, job: Job, device: str) -> str | None:
        failures: dict[str, str] = {}
        train_all([job], 1, {}, lambda trained: evaluate(trained, device, {}),
                  lambda name, error: failures.__setitem__(name, describe_failure(error)), progress=False,
                  pictures=False)
        return failures.get(job.name)

    def checkpoint(self, *args, **kwargs):
        """Called by submitit when Slurm preempts the task or its time runs out: requeue this very call (what
        submitit.helpers.Checkpointable does); the run then resumes from its last checkpoint."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


def run_on_cluster(jobs: list[Job], device: str, folder: Path, launcher: str,
                   slurm: SlurmOptions, on_done: Callable[[str, BaseException | None], None],
                   progress: bool = True) -> None:
    """Submit every job as a task of one array, wait for them, and pass each outcome to `on_done`."""
    if launcher == "submitit" and shutil.which("sbatch") is None:
        raise IsogenError("--launcher submitit needs Slurm, but sbatch is not on this machine; run the study on "
                          "the cluster's login node, or use --launcher local (submitit-local tries the path here)")
    if not jobs:
        return
    import submitit  # here, not at the top: only this path needs it (our GPU test machines lack it)

    executor = submitit.AutoExecutor(folder=folder, cluster="local" if launcher == "submitit-local" else "slurm")
    executor.update_parameters(name="isogen", timeout_min=slurm.time_min, gpus_per_node=slurm.gpus_per_task,
                               tasks_per_node=1, cpus_per_task=slurm.cpus_per_task, mem_gb=slurm.mem_gb,
                               slurm_array_parallelism=slurm.array_parallelism,
                               **({"slurm_partition": slurm.partition} if slurm.partition else {}))
    n = len(jobs)
    tasks = executor.map_array(RunTask(), jobs, [device] * n)
    ids = sorted({task.job_id.split("_")[0] for task in tasks})  # Slurm: one array; locally: a job per run
    print(f"submitted {n} runs as {launcher} job {', '.join(ids)}; task logs in {folder}")
    for job, task in tqdm(list(zip(jobs, tasks, strict=True)), desc="runs done", disable=not progress):
        try:
            failure = task.result()
        except Exception as e:  # noqa: BLE001 - a task that died (killed, out of memory): recorded
            failure = f"the task died ({describe_failure(e)}); see {folder} for its log"
        on_done(job.name, IsogenError(failure) if failure else None)
