"""A tiny study end to end: runs, skips finished runs, resumes, writes the report."""
import json

import pytest

from isogen.errors import IsogenError
from isogen.report import write_report
from isogen.study import STUDIES, StudySpec, load_spec, run_study

TINY_EVAL = {"fid_samples": 0, "samples": 200, "pairs": 20, "null_draws": 5, "probe_train": 500}


def tiny(**changes):
    spec = {"name": "tiny", "preset": "smoke", "overrides": {"epochs": 1, "train_subset": 512},
            "entries": [{"label": "sigreg-sphere", "method": "sigreg-sphere"}, {"label": "vae", "method": "vae"}],
            "dims": [8], "seeds": [0], "sensitivity": {"sigreg_weight": [0.1, 0.3]}, "eval": TINY_EVAL}
    return StudySpec.from_dict({**spec, **changes}, "tiny").validate()


def test_presets_validate_and_cover_every_method():
    from isogen.methods import METHODS

    for name in STUDIES:
        spec = load_spec(name)
        expected = {"study-q5": {"sigreg-sphere", "infonce", "align-uniform", "sigreg-gauss"},
                    "study-probe": {"infonce", "sigreg-sphere", "ae-gmm"},
                    "study-literature": {"vae", "ae-gmm"}}.get(name, set(METHODS))
        assert {e.method for e in spec.entries} == expected
    # 11 entries x 3 D x 3 seeds, plus the sensitivity values that differ from the full preset (6)
    assert len(load_spec("study-full").runs()) == 11 * 3 * 3 + 6
    # study-small-seeds reuses study-small's seed-0 runs: same names, same configs
    small = {r["name"]: r for r in load_spec("study-small").runs()}
    seeds = load_spec("study-small-seeds").runs()
    assert len(seeds) == 11 * 3 and all(small[r["name"]] == r for r in seeds if r["seed"] == 0)
    with pytest.raises(IsogenError, match="unknown method"):
        tiny(entries=[{"label": "x", "method": "gan"}])
    with pytest.raises(IsogenError, match="neither a preset"):
        load_spec("study-huge")


def test_tiny_study_runs_skips_and_reports(tmp_path):
    spec = tiny()
    names = [r["name"] for r in spec.runs()]
    assert names == ["sigreg-sphere-d8-s0", "vae-d8-s0", "sigreg-sphere-sigreg_weight0.3-d8-s0"]
    run_study(spec, tmp_path)
    report = write_report(spec, tmp_path)
    text = (report / "report.md").read_text()
    for question in ("Q1.", "Q2.", "Q3.", "Q4.", "Sensitivity"):
        assert question in text
    assert "| vae | 8 | 1 |" in text
    for name in ("samples.png", "spectra.png", "tradeoff.png", "sensitivity.png", "report.html"):
        assert (report / name).stat().st_size > 1000
    assert "data:image/png;base64," in (report / "report.html").read_text()

    # a finished study is not recomputed; a run whose metrics vanished is evaluated again
    before = {n: (tmp_path / "runs" / n / "checkpoint.pt").stat().st_mtime_ns for n in names}
    (tmp_path / "runs" / "vae-d8-s0" / "metrics.json").unlink()
    run_study(spec, tmp_path)
    after = {n: (tmp_path / "runs" / n / "checkpoint.pt").stat().st_mtime_ns for n in names}
    assert before == after
    assert json.loads((tmp_path / "runs" / "vae-d8-s0" / "metrics.json").read_text())["generation"]
    with pytest.raises(IsogenError, match="another study"):
        run_study(tiny(seeds=[1]), tmp_path)


def test_question_5_appears_with_the_flow_decoder_and_the_learned_sampler(tmp_path):
    spec = tiny(preset="smoke-flow", overrides={"epochs": 1, "train_subset": 256, "batch_size": 64},
                entries=[{"label": "sigreg-sphere", "method": "sigreg-sphere",
                          "overrides": {"decoder": "deconv", "samplers": "prior,learned"}},
                         {"label": "sigreg-sphere-flow", "method": "sigreg-sphere"}],
                sensitivity={}, eval={**TINY_EVAL, "samples": 50, "pairs": 10, "reconstructions": 200})
    run_study(spec, tmp_path, progress=False)
    report = write_report(spec, tmp_path)
    text = (report / "report.md").read_text()
    assert "Q5. Is isotropy enough" in text and "| sigreg-sphere-flow | 8 | 1 |" in text
    assert "Inception FID, prior - learned" in text
    for name in ("samples-q5.png", "draws.png", "interpolations-sigreg-sphere-flow.png"):
        assert (report / name).stat().st_size > 1000, name
    metrics = json.loads((tmp_path / "runs" / "sigreg-sphere-flow-d8-s0" / "metrics.json").read_text())
    assert metrics["generation"]["learned"]["code_fd"] >= 0 and metrics["oracle"]["code_fd"] >= 0
