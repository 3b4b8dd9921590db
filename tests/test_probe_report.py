"""bench/probe_report.py's rule on made-up runs: a budget is chosen when every endpoint moves over the next
doubling by less than the half-width of its 95% seed interval, and not when one moves more."""
import importlib.util
import json
from pathlib import Path

import pytest
from scipy import stats

from isogen.catalog import BUDGET, PROBE_EPOCHS
from isogen.metrics.schema import COLUMNS

SCRIPT = Path(__file__).parent.parent / "bench" / "probe_report.py"
SPEC = importlib.util.spec_from_file_location("probe_report", SCRIPT)
probe_report = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(probe_report)

ENDPOINT_KEYS = ("mse", "cfid_prior", "ep_n")  # Q1-Q4 of the probe's methods: sigreg-sphere against the others


def nested(paths_values: dict) -> dict:
    out: dict = {}
    for path, v in paths_values.items():
        *parents, leaf = path.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    return out


def write_run(out: Path, method: str, epochs: int, seed: int, level: float) -> None:
    folder = out / "runs" / f"{method}-e{epochs}-d64-s{seed}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"method": method, "seed": seed, "epochs": epochs,
                                                    "decoder_epochs": 4, "encoder_from": ""}))
    (folder / "metrics.json").write_text(json.dumps(nested({COLUMNS[k].path: level for k in ENDPOINT_KEYS})))


def probe(tmp_path: Path, at_8: float) -> list[list[str]]:
    """sigreg-sphere's endpoints at 9, 10, 11 (seeds 0-2) at 4 epochs and `at_8` at 8; the other arms at 0."""
    for seed, level in enumerate((9.0, 10.0, 11.0)):
        for method in ("sigreg-sphere", "infonce", "infonce-uniform", "sigreg-gauss"):
            write_run(tmp_path, method, 4, seed, level if method == "sigreg-sphere" else 0.0)
    for method in ("sigreg-sphere", "infonce", "infonce-uniform", "sigreg-gauss"):
        write_run(tmp_path, method, 8, 0, at_8 if method == "sigreg-sphere" else 0.0)
    return probe_report.endpoint_rows(probe_report.runs(tmp_path), "encoder", PROBE_EPOCHS)


@pytest.mark.parametrize("at_8, verdict", [(11.0, "stable"), (12.0, "moving")])
def test_the_rule_compares_the_next_doubling_with_the_seed_interval(tmp_path, at_8, verdict):
    rows = probe(tmp_path, at_8)
    half = stats.t.ppf(0.975, 2) * 1.0 / 3 ** 0.5  # the seeds' differences 9, 10, 11: sd 1, n 3 -> 2.48
    at_4 = [row for row in rows if row[2] == "4"]
    assert len(at_4) == 4 and {row[-1] for row in at_4} == {verdict}  # Q1-Q4, each moved by at_8 - 9
    for row in at_4:
        low, high = (float(x) for x in row[4].split("[")[1].rstrip("]").split(", "))
        assert (high - low) / 2 == pytest.approx(half, abs=0.051)  # as printed: classifier FID to 0.1
        assert float(row[5]) == pytest.approx(at_8 - 9.0)  # paired: seed 0 at 8 against seed 0 at 4
    chosen = probe_report.chosen_budget(rows, PROBE_EPOCHS)
    assert chosen.startswith("**budget: 4**") if verdict == "stable" else chosen.startswith("**no budget yet**")


def test_arms_that_move_together_are_not_converged_for_the_decoder(tmp_path):
    """Every arm at 9, 10, 11 (seeds 0-2) at 4 epochs and 15 at 8: the differences never move, the arms do."""
    methods = ("sigreg-sphere", "infonce", "infonce-uniform", "sigreg-gauss")
    for method in methods:
        for seed, level in enumerate((9.0, 10.0, 11.0)):
            write_run(tmp_path, method, 4, seed, level)
        write_run(tmp_path, method, 8, 0, 15.0)
    found = probe_report.runs(tmp_path)
    differences = probe_report.endpoint_rows(found, "encoder", PROBE_EPOCHS)
    assert probe_report.chosen_budget(differences, PROBE_EPOCHS).startswith("**budget: 4**")
    with_arms = probe_report.endpoint_rows(found, "encoder", PROBE_EPOCHS, arms_too=True)
    alone = [row for row in with_arms if row[1].endswith(" alone") and row[2] == "4"]
    assert len(alone) == 7 and {row[-1] for row in alone} == {"moving"}  # 2 arms of MSE, 3 of cFID, 2 of EP
    chosen = probe_report.chosen_budget(with_arms, PROBE_EPOCHS)
    assert chosen.startswith("**no budget yet**") and "Every difference is stable, but not yet at 4: " in chosen
    assert "recon MSE: sigreg-sphere alone" in chosen  # what holds the budget back is named


def test_the_protocols_decoder_on_both_encoder_budgets_checks_the_encoders_verdict(tmp_path):
    """A decoder-only run at BUDGET's decoder epochs counts for the encoder it decodes (4 or 8 epochs); on the
    4-epoch encoder it is also a point of the decoder's doubling."""
    epochs, rate = BUDGET["decoder_epochs"], BUDGET["decoder_lr"]
    for method in ("sigreg-sphere", "infonce", "infonce-uniform", "sigreg-gauss"):
        for encoder in (4, 8):
            for seed, level in enumerate((9.0, 10.0, 11.0)):
                folder = tmp_path / "runs" / f"{method}-e{encoder}-lr{rate}-dec{epochs}-d64-s{seed}"
                folder.mkdir(parents=True)
                (folder / "config.json").write_text(json.dumps({
                    "method": method, "seed": seed, "epochs": encoder, "decoder_epochs": epochs,
                    "encoder_from": f"../{method}-e{encoder}-d64-s{seed}"}))
                moved = 0.0 if encoder == 4 or method != "sigreg-sphere" else 5.0
                level = (level if method == "sigreg-sphere" else 0.0) + moved
                (folder / "metrics.json").write_text(json.dumps(nested({COLUMNS[k].path: level
                                                                        for k in ENDPOINT_KEYS})))
    found = probe_report.runs(tmp_path)
    mse = COLUMNS["mse"].path.split(".")
    doubling = found[("sigreg-sphere", "decoder", epochs)]  # the 4-epoch encoder's runs alone
    assert [doubling[s][mse[0]][mse[1]] for s in range(3)] == [9.0, 10.0, 11.0]
    rows = probe_report.endpoint_rows(found, "protocol", (4, 8))
    assert {row[-1] for row in rows if row[2] == "4"} == {"moving"}  # sigreg-sphere moved by 5 > 2.48
    assert probe_report.chosen_budget(rows, (4, 8)).startswith("**no budget yet**")
