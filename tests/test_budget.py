"""`isogen study --hours`: which pending runs fit, laid out on K slots by the study's own timings."""
import pytest

from isogen import runner
from isogen.budget import within_hours
from isogen.errors import IsogenError
from isogen.files import write_json, write_jsonl
from isogen.runner import expected_config, pending_jobs, run_study
from isogen.runs import CHECKPOINT
from isogen.study import StudySpec


def spec() -> StudySpec:
    return StudySpec.from_dict({
        "name": "budget", "preset": "smoke", "dims": [8], "seeds": [0, 1, 2],
        "entries": [{"label": "a", "method": "sigreg-sphere", "grid": {"sigreg_weight": [1.0]}},
                    {"label": "b", "method": "vae", "seeds": [0]},
                    {"label": "a-dec", "method": "sigreg-sphere", "encoder": "a", "seeds": [0, 1],
                     "overrides": {"decoder_epochs": 1}}]}, "budget").validate()


def choose(tmp_path, hours, concurrent=2, recorded=None):
    study = spec()
    recorded = recorded if recorded is not None else [{"name": "a-d8-s0", "train_s": 600.0, "eval_s": 300.0}]
    write_jsonl(tmp_path / "timings.jsonl", recorded)
    finished = {r["name"] for r in recorded}
    jobs = [job for job in pending_jobs(study, tmp_path, "cpu") if job.retrain or job.name not in finished]
    chosen, ending = within_hours(jobs, {run.name: run for run in study.runs()}, tmp_path, concurrent, hours)
    return [job.name for job in chosen], ending


def test_runs_are_laid_out_on_slots_in_order_and_those_ending_late_wait(tmp_path):
    # a-d8-s0 finished in 15 min. Pending, in order: a-d8-s1, a-d8-s2 (like it: 15 min each), b-d8-s0, a-dec-d8-s0,
    # a-dec-d8-s1 (after its encoder a-d8-s1) (unlike any: the longest, 15 min each) and the grid run
    # a-sigreg_weight1.0 (same entry and D: 15 min). Two slots: 0-15 a-s1 and a-s2, 15-30 b and a-dec-s0, 30-45
    # a-dec-s1 and the grid run
    four = ["a-d8-s1", "a-d8-s2", "b-d8-s0", "a-dec-d8-s0"]
    assert choose(tmp_path, 0.5) == (four, 0.5)
    assert choose(tmp_path, 0.74) == (four, 0.5)
    assert choose(tmp_path, 0.75) == ([*four, "a-dec-d8-s1", "a-sigreg_weight1.0-d8-s0"], 0.75)
    assert choose(tmp_path, 0.25, concurrent=1) == (["a-d8-s1"], 0.25)
    assert choose(tmp_path, 0.2) == ([], 0.0)


def test_a_decoder_run_waits_for_its_encoder_run_and_with_it(tmp_path):
    recorded = [{"name": "a-d8-s0", "train_s": 600.0, "eval_s": 300.0},
                {"name": "a-dec-d8-s0", "train_s": 40.0, "eval_s": 20.0}]  # a decoder run: 1 min
    # one slot: a-d8-s1 0-900 s, a-dec-d8-s1 900-960 s; a-d8-s2, b and the grid run (900 s each) do not fit 1080 s
    assert choose(tmp_path, 0.3, concurrent=1, recorded=recorded) == (["a-d8-s1", "a-dec-d8-s1"], 960 / 3600)
    # its encoder run does not fit 720 s, so neither does it, short as it is
    assert choose(tmp_path, 0.2, concurrent=1, recorded=recorded) == ([], 0.0)


def test_the_likest_recorded_runs_set_the_estimate_and_a_resumed_run_is_charged_what_is_left(tmp_path):
    recorded = [{"name": "a-d8-s0", "train_s": 600.0, "eval_s": 300.0},
                {"name": "b-d8-s0", "train_s": 60.0, "eval_s": 30.0},
                {"name": "a-sigreg_weight1.0-d8-s0", "train_s": 3000.0, "eval_s": 600.0}]
    (tmp_path / "runs" / "a-d8-s1").mkdir(parents=True)  # a-d8-s1 has trained 500 s of its 600
    write_jsonl(tmp_path / "runs" / "a-d8-s1" / "log.jsonl", [{"seconds": 250.0}, {"seconds": 250.0}])
    names, ending = choose(tmp_path, 10, concurrent=1, recorded=recorded)
    # a-d8-s1: 100 + 300 s; a-d8-s2: 900 s (the main run's, not the grid run's); a-dec-d8-s0 and -s1 (their entry
    # unlike any recorded: the longest): 3600 s each
    assert len(names) == 4 and ending == pytest.approx((400 + 900 + 3600 + 3600) / 3600)


def test_without_a_finished_run_or_on_a_cluster_it_says_what_to_do(tmp_path):
    with pytest.raises(IsogenError, match="run the study without --hours until a run has finished"):
        choose(tmp_path, 1, recorded=[])
    with pytest.raises(IsogenError, match="give the hours"):
        run_study(spec(), tmp_path, "cpu", hours=-1)
    with pytest.raises(IsogenError, match="--time-min"):
        run_study(spec(), tmp_path, "cpu", launcher="submitit-local", hours=1)


def finish(study: StudySpec, out, name: str, here: bool = False) -> None:
    """What a finished run leaves that a fresh clone holds too, its planned config and its metrics; and if it
    was trained `here`, its checkpoint."""
    folder = out / "runs" / name
    write_json(folder / "config.json", expected_config(study, next(r for r in study.runs() if r.name == name)))
    write_json(folder / "metrics.json", {})
    if here:
        (folder / CHECKPOINT).touch()


def test_an_encoder_trained_again_for_its_checkpoint_comes_only_with_a_run_that_decodes_it(tmp_path):
    study = spec()
    finish(study, tmp_path, "a-d8-s0")  # its checkpoint gone
    # retraining a-d8-s0 takes its training (600 s) and must come with a-dec-d8-s0 (unlike any recorded: 900 s).
    # Two slots: a-s1 and a-s2 0-900, b 900-1800; a-s0 again 900-1500 and a-dec-s0 1500-2400; a-dec-s1 (after a-s1)
    # 1800-2700; the grid run 2400-3300
    names, ending = choose(tmp_path, 1.0)
    assert names == ["a-d8-s1", "a-d8-s2", "b-d8-s0", "a-d8-s0", "a-dec-d8-s0", "a-dec-d8-s1",
                     "a-sigreg_weight1.0-d8-s0"] and ending == pytest.approx(3300 / 3600)
    # within 0.5 h a-dec-s0 would end at 2400 s: neither it nor the retraining of its encoder is chosen
    assert choose(tmp_path, 0.5) == (["a-d8-s1", "a-d8-s2", "b-d8-s0", "a-dec-d8-s1"], 0.5)


def test_the_hours_left_are_planned_again_when_the_chosen_runs_have_ended(tmp_path, monkeypatch):
    # the record says 15 min a run; this machine trains them at once, so after the first half hour's choice has
    # ended, about the half hour is still left, and the runs it holds are chosen next, until none is pending
    study, rounds = spec(), []
    write_jsonl(tmp_path / "timings.jsonl", [{"name": "a-d8-s0", "train_s": 600.0, "eval_s": 300.0}])
    finish(study, tmp_path, "a-d8-s0", here=True)

    def train_at_once(jobs, out, *_):
        rounds.append([job.name for job in jobs])
        for job in jobs:
            finish(study, out, job.name, here=True)

    monkeypatch.setattr(runner, "train_jobs", train_at_once)
    assert run_study(study, tmp_path, "cpu", concurrent=2, hours=0.51) == {}
    assert rounds == [["a-d8-s1", "a-d8-s2", "b-d8-s0", "a-dec-d8-s0"], ["a-dec-d8-s1", "a-sigreg_weight1.0-d8-s0"]]
