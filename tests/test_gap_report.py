"""bench/gap_report.py on made-up runs: issue 23's target is met only when all three clauses hold, each run
says what it changes against the default, and rows come sorted by the prior's confident share."""
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "bench" / "gap_report.py"
SPEC = importlib.util.spec_from_file_location("gap_report", SCRIPT)
gap_report = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(gap_report)


def metrics(prior: float, oracle: float, fid_prior: float, fid_oracle: float) -> dict:
    return {"generation": {"prior": {"confident_share": prior, "classifier_fid": fid_prior}},
            "oracle": {"confident_share": oracle, "classifier_fid": fid_oracle}}


@pytest.mark.parametrize("numbers, met", [((0.90, 0.93, 15.0, 10.0), True),    # every clause holds
                                          ((0.84, 0.86, 10.0, 10.0), False),   # below 85%
                                          ((0.88, 0.95, 10.0, 10.0), False),   # 7 points below the oracle
                                          ((0.90, 0.92, 15.1, 10.0), False)])  # FID over 1.5x the oracle's
def test_the_target_needs_every_clause(numbers, met):
    assert gap_report.met(metrics(*numbers)) is met


def test_rows_name_their_change_and_sort_by_the_prior(tmp_path):
    for name, prior in ((gap_report.DEFAULT, 0.3), ("lambda-1-d64-s0", 0.5), ("lambda-1-dims-d8-s0", 0.6)):
        folder = tmp_path / "runs" / name
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(metrics(prior, 0.95, 300.0, 15.0)))
    rows = {name: change for name, change, _ in gap_report.finished(tmp_path)}
    assert rows == {gap_report.DEFAULT: "the default", "lambda-1-d64-s0": "sigreg_weight=1.0",
                    "lambda-1-dims-d8-s0": "embed_dim=8, sigreg_weight=1.0"}
    text = gap_report.table(sorted(gap_report.finished(tmp_path), key=lambda r: -r[2]["generation"]["prior"]
                                   ["confident_share"]))
    order = [line.split(" | ")[0].strip("| ") for line in text.splitlines()[2:]]
    assert order == ["lambda-1-dims-d8-s0", "lambda-1-d64-s0", gap_report.DEFAULT]
