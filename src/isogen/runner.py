"""`isogen study SPEC`: train and evaluate every run of a study that is not finished, here or on a cluster.

A run is finished when its folder holds metrics.json and the config the plan asks for: those small files
(config, environment, log, metrics, pictures) are what a study commits under results/<study>/, so a fresh
clone counts its runs as done and `--report-only` rebuilds the report from them. Checkpoints and cached codes
stay local (.gitignore). A pending run that decodes another run's encoder waits for that run; if that run is
finished but its checkpoint is gone (a new machine), it is trained again from its seed, bit for bit on a CPU,
and if the retrained encoder differs from the one its metrics describe (another machine, another device),
it is evaluated again. Killing a study loses at most the epochs in flight.
"""
from __future__ import annotations

import time
from pathlib import Path

from .budget import within_hours
from .cluster import SlurmOptions, run_on_cluster
from .config import Config, make_config
from .data import Dataset
from .errors import IsogenError
from .files import read_json, read_jsonl, remove_stale_temporaries, write_json, write_jsonl
from .launcher import Evaluations, Job, describe_failure, study_concurrency, study_launcher, train_all
from .processes import train_in_processes
from .runs import CHECKPOINT, resolve_device
from .study import RunPlan, StudySpec
from .train import config_differences


def expected_config(spec: StudySpec, run: RunPlan, device: str = "auto") -> dict:
    return make_config(spec.preset, {**run.overrides, "device": device}).to_dict()


def finished(spec: StudySpec, run: RunPlan, folder: Path) -> bool:
    """metrics.json beside the planned config (up to settings the run does not read); a folder of the same name
    with another config is an error."""
    if not (folder / "metrics.json").exists():
        return False
    planned = Config.from_dict(expected_config(spec, run))
    differing = config_differences(read_json(folder / "config.json"), planned)
    if differing:
        raise IsogenError(f"{folder} holds a finished run of another config (it differs in {differing}); move it "
                          "away, or use another --out")
    return True


def pending_jobs(spec: StudySpec, out: Path, device: str) -> list[Job]:
    """The unfinished runs (resumed from their checkpoints), each after the run whose encoder it decodes; a
    finished encoder run whose checkpoint is gone is trained again first (without a new evaluation)."""
    folder = lambda name: out / "runs" / name  # noqa: E731
    plans = {run.name: run for run in spec.runs()}
    todo = [run for run in plans.values() if not finished(spec, run, folder(run.name))]
    retrain = [plans[name] for name in dict.fromkeys(run.source for run in todo if run.source)
               if plans[name] not in todo and not (folder(name) / CHECKPOINT).exists()]

    def job(run: RunPlan, again: bool) -> Job:
        return Job(run.name, make_config(spec.preset, {**run.overrides, "device": device}), folder(run.name),
                   run.eval, folder(run.source) if run.source else None, retrain=again)

    return [job(run, True) for run in retrain] + [job(run, False) for run in todo]


def run_study(spec: StudySpec, out: str | Path, device: str = "auto", progress: bool = True, concurrent: int = 0,
              eval_workers: int = -1, launcher: str = "auto", slurm: SlurmOptions | None = None,
              hours: float = 0.0) -> dict[str, str]:
    """Train and evaluate every pending run here, `concurrent` at a time (0: launcher.study_concurrency): with
    launcher="processes" (a CPU's default) each in a worker process with its share of the cores, with "local"
    (a GPU's) interleaved in this process and evaluated in `eval_workers` background processes (-1: one on
    CUDA, none on a CPU); or with
    launcher="submitit", one Slurm array task per run (isogen.cluster). hours > 0: only the runs that should
    end within that many hours (isogen.budget), chosen again for the hours left whenever the chosen ones have
    ended (the runs they timed on this machine then count: a machine faster than the record gets more). Returns
    the runs that failed, name -> one line (also in OUT/failures.jsonl); the others are unaffected."""
    if hours < 0:
        raise IsogenError(f"--hours {hours:g}: give the hours the study may take from now, > 0 (0: no limit)")
    deadline = time.monotonic() + hours * 3600
    out = Path(out)
    # A spec may grow between invocations (more seeds at a deciding point): its finished runs still count, and
    # a run folder whose config the new spec plans differently is refused by `finished`.
    write_json(out / "study.json", spec.to_dict())
    remove_stale_temporaries(out)  # of a study killed while writing its records
    jobs = pending_jobs(spec, out, device)
    total = len(spec.runs())
    if hours and launcher.startswith("submitit"):
        raise IsogenError("--hours chooses the runs trained here; a cluster's tasks are limited by --time-min instead")
    if launcher.startswith("submitit"):
        resolved, concurrent = launcher, len(jobs)
        print(f"{spec.name}: {len(jobs)} of {total} runs to do, one {launcher} task each")
    else:
        resolved = resolve_device(device)
        launcher = study_launcher(launcher, resolved)
        concurrent = concurrent or study_concurrency(jobs, resolved, launcher)
        eval_workers = eval_workers if eval_workers >= 0 else int(resolved.type == "cuda")
        how = (f"{concurrent} at a time, each in a worker process" if launcher == "processes" else
               f"{concurrent} at a time, evaluated "
               + (f"in {eval_workers} worker process(es)" if eval_workers else "after each run"))
        print(f"{spec.name}: {len(jobs)} of {total} runs to do on {resolved}, {how}")
    failures: dict[str, str] = {}
    plans = {run.name: run for run in spec.runs()}
    while jobs:
        if hours:
            left = max(deadline - time.monotonic(), 0.0) / 3600
            chosen, ending = within_hours(jobs, plans, out, concurrent, left)
            print(f"  within {left:.2f} h: {len(chosen)} of them (ending after about {ending:.1f} h by the study's "
                  f"timings); the other {len(jobs) - len(chosen)} wait")
            jobs = chosen
            if not jobs:
                break
        train_jobs(jobs, out, device, str(resolved), launcher, concurrent, eval_workers, slurm, progress, failures)
        if not hours:
            break
        jobs = [job for job in pending_jobs(spec, out, device) if job.name not in failures]
    return failures


def train_jobs(jobs: list[Job], out: Path, device: str, resolved: str, launcher: str, concurrent: int,
               eval_workers: int, slurm: SlurmOptions | None, progress: bool, failures: dict[str, str]) -> None:
    """Train and evaluate `jobs` (see run_study; `resolved`: where they run, for the record), recording each run's
    seconds in OUT/timings.jsonl, what failed in `failures` and OUT/failures.jsonl, and the round in
    OUT/sessions.jsonl."""
    timings = {r["name"]: r for r in read_jsonl(out / "timings.jsonl")}
    retrained = {job.name for job in jobs if job.retrain}
    failed_before, started = len(failures), time.perf_counter()

    def failed(name: str, error: BaseException) -> None:  # said at once: a killed study writes no records
        failures[name] = describe_failure(error)
        print(f"{name}: failed: {failures[name]}", flush=True)

    def evaluated(name: str, error: BaseException | None) -> None:
        if error is not None:
            failed(name, error)
            return
        run_dir = out / "runs" / name
        eval_s = read_json(run_dir / "metrics.json")["protocol"]["seconds"]
        if name in retrained and timings.get(name, {}).get("eval_s") == eval_s:
            return  # trained again for its checkpoint, its metrics stand: so does the record of the run they describe
        train_s = sum(r["seconds"] for r in read_jsonl(run_dir / "log.jsonl"))  # of its epochs, K at a time
        timings[name] = {"name": name, "train_s": round(train_s, 1), "eval_s": eval_s}
        write_jsonl(out / "timings.jsonl", list(timings.values()))
        print(f"{name}: done ({train_s:.0f} s training, {eval_s:.0f} s evaluation)", flush=True)

    try:
        if launcher.startswith("submitit"):  # in waves: a run that decodes another's encoder after that run
            for wave in ([j for j in jobs if j.needs is None], [j for j in jobs if j.needs is not None]):
                run_on_cluster(wave, device, out / "submitit", launcher, slurm or SlurmOptions(), evaluated, progress)
        elif launcher == "processes":
            train_in_processes(jobs, concurrent, device, evaluated, progress)
        else:
            datasets: dict[tuple, Dataset] = {}  # loaded once per (data set, folder), shared by the runs
            evaluations = Evaluations(device, eval_workers, datasets, evaluated)
            try:  # evaluation draws the pictures off this loop, and in workers fits the samplers too
                train_all(jobs, concurrent, datasets, evaluations.submit, failed, progress, pictures=False,
                          fit=not eval_workers)
            finally:
                evaluations.close()
    finally:  # also when a broken device stopped the study: what failed, and this round, are recorded
        write_jsonl(out / "failures.jsonl", [{"name": k, "error": v} for k, v in failures.items()])
        session = {"runs": len(jobs), "failed": len(failures) - failed_before, "concurrent": concurrent,
                   "device": resolved, "wall_s": round(time.perf_counter() - started, 1)}
        write_jsonl(out / "sessions.jsonl", read_jsonl(out / "sessions.jsonl") + [session])  # one per round


def collect(spec: StudySpec, out: Path) -> list[dict]:
    """Every finished run: its plan, metrics, final training log record and folder."""
    rows = []
    for run in spec.runs():
        run_dir = out / "runs" / run.name
        if finished(spec, run, run_dir):
            rows.append({"run": run, "metrics": read_json(run_dir / "metrics.json"),
                         "log": read_jsonl(run_dir / "log.jsonl")[-1], "dir": run_dir})
    return rows


def main_rows(rows: list[dict], labels: tuple[str, ...] = ()) -> dict[tuple[str, int], list[dict]]:
    """Main runs (no grid point) grouped by (entry, D), in the study's order; `labels` picks entries (() = all)."""
    groups: dict = {}
    for row in rows:
        run = row["run"]
        if run.varied is None and (not labels or run.entry in labels):
            groups.setdefault((run.entry, run.dim), []).append(row["metrics"])
    return groups
