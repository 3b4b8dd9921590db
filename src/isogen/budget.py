"""`isogen study SPEC --hours H`: start only the pending runs that should end within H hours, so that a session
which must stop at a known time leaves no run part-trained (its checkpoint would not outlive a machine that is
handed back, and the run would train again from its first epoch).

A run's duration comes from the study's own record, OUT/timings.jsonl: each finished run's training and
evaluation seconds, measured at the study's concurrency on this kind of machine. A pending run takes the mean of
the recorded runs most like it: the same entry, grid point and D (other seeds), else the same entry and D, else
the same entry; a run unlike any recorded one takes the longest recorded (so the guess errs long). A run resumed
from a checkpoint is charged only the training its log has not yet recorded; a finished encoder trained again
for its checkpoint, only its training, and only together with a run that decodes it. The runs are then laid out
in the study's order on K slots, as the launchers start them (each when a slot frees, a decoder run after the run
whose encoder it decodes), and those that would end after H hours wait: once the chosen runs have ended, the
study chooses again for the hours left (isogen.runner), by timings that now hold the runs just measured on this
machine. It is an estimate: a run slower than its peers can still end late.
"""
from __future__ import annotations

from pathlib import Path

from .errors import IsogenError
from .files import read_jsonl
from .launcher import Job
from .study import RunPlan


def expected_seconds(job: Job, plan: RunPlan, recorded: dict[str, dict], plans: dict[str, RunPlan]) -> float:
    """The seconds this pending run should still take, from the recorded runs most like it."""
    if not recorded:
        raise IsogenError("--hours estimates runs from this study's finished ones, and timings.jsonl records none "
                          "yet: run the study without --hours until a run has finished")
    done = [(plans[name], r) for name, r in recorded.items() if name in plans]
    likenesses = [lambda p: (p.entry, p.varied, p.dim) == (plan.entry, plan.varied, plan.dim),
                  lambda p: (p.entry, p.dim) == (plan.entry, plan.dim), lambda p: p.entry == plan.entry]
    for alike in likenesses:
        peers = [r for p, r in done if alike(p)]
        if peers:
            train_s = sum(r["train_s"] for r in peers) / len(peers)
            eval_s = sum(r["eval_s"] for r in peers) / len(peers)
            break
    else:
        longest = max(recorded.values(), key=lambda r: r["train_s"] + r["eval_s"])
        train_s, eval_s = longest["train_s"], longest["eval_s"]
    trained_s = sum(r["seconds"] for r in read_jsonl(job.run_dir / "log.jsonl")) if not job.retrain else 0.0
    return max(train_s - trained_s, 0.0) + (0.0 if job.retrain else eval_s)


def within_hours(jobs: list[Job], plans: dict[str, RunPlan], out: Path, concurrent: int,
                 hours: float) -> tuple[list[Job], float]:
    """The jobs (in their order) that should end within `hours` when started `concurrent` at a time, and the
    hours the last of them should end at. A finished encoder trained again for its checkpoint is laid out with
    the first chosen run that decodes it, just before it, and is not chosen without one."""
    recorded = {r["name"]: r for r in read_jsonl(out / "timings.jsonl")}
    pending = {job.run_dir for job in jobs}
    retrains = {job.run_dir: job for job in jobs if job.retrain}
    slots, ends, chosen = [0.0] * concurrent, {}, []  # when each slot frees; when each chosen run ends
    for job in jobs:
        if job.retrain:
            continue
        encoder = retrains.get(job.needs)
        if job.needs in pending and job.needs.name not in ends and encoder is None:
            continue  # the run whose encoder it decodes waits too
        group = [encoder, job] if encoder is not None and encoder.name not in ends else [job]
        trial_slots, trial_ends = slots.copy(), dict(ends)
        for member in group:
            seconds = expected_seconds(member, plans[member.name], recorded, plans)
            slot = min(range(concurrent), key=trial_slots.__getitem__)
            start = max(trial_slots[slot], trial_ends.get(member.needs.name, 0.0) if member.needs else 0.0)
            trial_slots[slot] = trial_ends[member.name] = start + seconds
        if all(trial_ends[member.name] <= hours * 3600 for member in group):
            slots, ends = trial_slots, trial_ends
            chosen += group
    return chosen, max(ends.values(), default=0.0) / 3600
