"""The convergence probe's answer: at which budget do the answers stop moving?

    PYTHONPATH=src python bench/probe_report.py [results/study-probe]   -> OUT/report/probe.md, probe.png

Reads the finished runs of `isogen study study-probe` (committed small files suffice) and, for each budget
(encoder epochs E, then decoder-only epochs at BUDGET's decoder_lr on one seeded encoder budget,
PROBE_DECODER_ON; the decoder runs at the encoder's rate, no longer planned, are left out:
results/bench/decoder-lr/), every primary endpoint the probe's methods answer (isogen.catalog.ENDPOINTS: the
per-seed difference A - B). The rule: the budget is the smallest E at which every endpoint moves over the next
doubling by less than the half-width of its 95% seed interval at E (the interval needs seeds at E; a budget
with one seed is marked "1 seed"); for the decoder, each arm's own value of an endpoint's column too, as the
protocol trains the decoder to convergence on frozen codes (a longer-trained encoder is another
representation, and its codes decode worse: that drift is an answer, not a want of convergence). The
decoder's clause was added on 2026-12-02, after the numbers: at the encoder's rate every arm's reconstruction
and classifier FID still moved by a fifth or more per doubling of the decoder's epochs while the differences
between arms stayed inside their intervals, which the differences alone took for converged. The change to
the next doubling is paired by seed (the seeds both budgets have) since 2026-12-03, also after numbers: a
code-space endpoint (EP T/N) "moved" between decoder budgets whose encoders were the same, because one
budget's three seeds were compared with the next one's seed 0 alone. Where no budget meets the rule, the
verdict names what still moves at each budget whose differences are all stable. The encoder's
doubling decodes at the encoder's rate; its verdict is checked again with the protocol's decoder (BUDGET's
epochs and rate) on the 4- and 8-epoch encoders. The curves show each method's raw metrics against the budget.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from isogen.catalog import (  # noqa: E402
    BUDGET,
    ENDPOINTS,
    PROBE_DECODER_EPOCHS,
    PROBE_DECODER_ON,
    PROBE_EPOCHS,
    PROBE_METHODS,
    load_spec,
)
from isogen.figures import save_figure  # noqa: E402
from isogen.files import read_json, write_text  # noqa: E402
from isogen.metrics.schema import COLUMNS, value  # noqa: E402
from isogen.statistics import paired_difference  # noqa: E402

CURVES = ("mse", "cfid_prior", "confident", "confident_oracle", "ep_n", "probe")


def runs(out: Path) -> dict[tuple[str, str, int], dict[int, dict]]:
    """(method, budget kind, budget) -> {seed: metrics} for every finished run that study-probe's spec plans
    (a folder it no longer plans, such as the decoder runs at the encoder's rate, is left out)."""
    planned = {run.name for run in load_spec("study-probe").runs()}
    found: dict = {}
    for folder in sorted((out / "runs").glob("*/metrics.json")):
        run = folder.parent
        if run.name not in planned:
            continue
        config = read_json(run / "config.json")
        method, seed, metrics = config["method"], config["seed"], read_json(folder)
        if not config["encoder_from"]:
            found.setdefault((method, "encoder", config["epochs"]), {})[seed] = metrics
            continue
        if config["epochs"] == PROBE_DECODER_ON:
            found.setdefault((method, "decoder", config["decoder_epochs"]), {})[seed] = metrics
        if config["decoder_epochs"] == BUDGET["decoder_epochs"]:  # the protocol's decoder, by encoder epochs
            found.setdefault((method, "protocol", config["epochs"]), {})[seed] = metrics
    return found


def verdict_rows(question: str, label: str, digits: int, series: list[tuple[int, dict[int, float]]]) -> list[list[str]]:
    """One row per budget that has values ({seed: value}): their mean and 95% t-interval over seeds, the change
    to the next doubling, paired by seed (the mean over the seeds both budgets have of later - now: a budget's
    seed 0 alone against another's three seeds would compare encoders rather than budgets), and the verdict
    (stable: within the interval's half-width)."""
    rows = []
    for (budget, values), (_, later) in zip(series, series[1:] + [(None, {})], strict=True):
        if not values:
            continue
        mean = float(np.mean(list(values.values())))
        interval = paired_difference(values, dict.fromkeys(values, 0.0)) if len(values) >= 2 else None
        both = sorted(values.keys() & later.keys())
        moved = float(np.mean([later[s] - values[s] for s in both])) if both else None
        half = (interval.high - interval.low) / 2 if interval else None
        verdict = "—" if moved is None else "1 seed" if half is None else "stable" if abs(moved) <= half else "moving"
        rows.append([question, label, str(budget), str(len(values)),
                     f"{mean:.{digits}f}" + (f" [{interval.low:.{digits}f}, {interval.high:.{digits}f}]"
                                            if interval else ""),
                     "—" if moved is None else f"{moved:+.{digits}f}", verdict])
    return rows


def endpoint_rows(found: dict, kind: str, budgets: tuple[int, ...], arms_too: bool = False) -> list[list[str]]:
    """The rule's rows: each endpoint's difference A - B (paired by seed); with arms_too, then each arm's own
    value of an endpoint's column, so that a decoder whose arms still move together is not taken for converged."""
    def per_seed(arm: str, key: str, budget: int) -> dict[int, float]:
        return {s: v for s, m in found.get((arm, kind, budget), {}).items()
                if (v := value(m, COLUMNS[key].path)) is not None}

    differences, arms = [], []
    for question, key, a, b in ENDPOINTS:
        if a not in PROBE_METHODS or b not in PROBE_METHODS:
            continue
        column = COLUMNS[key]
        series = []
        for budget in budgets:
            of_a, of_b = per_seed(a, key, budget), per_seed(b, key, budget)
            series.append((budget, {s: of_a[s] - of_b[s] for s in sorted(of_a.keys() & of_b.keys())}))
        differences += verdict_rows(question, f"{column.title}: {a} − {b}", column.digits, series)
        for arm in (a, b):
            label = f"{column.title}: {arm} alone"
            if arms_too and not any(row[1] == label for row in arms):
                arms += verdict_rows(question, label, column.digits,
                                     [(budget, per_seed(arm, key, budget)) for budget in budgets])
    return differences + arms


def unmeasured(found: dict) -> list[str]:
    """The endpoints between probe methods that no probe run measures (Q5's gap needs the learned sampler)."""
    return [f"{q} ({COLUMNS[key].title}: {a} − {b})" for q, key, a, b in ENDPOINTS
            if a in PROBE_METHODS and b in PROBE_METHODS
            and not any(value(m, COLUMNS[key].path) is not None for (method, _, _), seeds in found.items()
                        if method == a for m in seeds.values())]


def chosen_budget(rows: list[list[str]], budgets: tuple[int, ...]) -> str:
    """The rule's answer: the smallest budget at which every endpoint is "stable", or what is still missing."""
    endpoints = {row[1] for row in rows}
    if not endpoints:
        return "**no budget yet**: no finished runs at these budgets"
    for budget in budgets:
        verdicts = {row[1]: row[-1] for row in rows if row[2] == str(budget)}
        if set(verdicts) == endpoints and set(verdicts.values()) == {"stable"}:
            return f"**budget: {budget}** (every endpoint stable over the next doubling)"
    text = ("**no budget yet**: no budget has every endpoint stable over the next doubling with seeds there "
            f"({len(endpoints)} endpoints)")
    held = []  # what holds each budget back whose differences are all stable
    for budget in budgets:
        verdicts = {row[1]: row[-1] for row in rows if row[2] == str(budget)}
        differences = {label: v for label, v in verdicts.items() if not label.endswith(" alone")}
        if differences and set(differences.values()) == {"stable"} and len(verdicts) == len(endpoints):
            held.append(f"at {budget}: {'; '.join(sorted(label for label, v in verdicts.items() if v != 'stable'))}")
    return text + (f". Every difference is stable, but not yet {' — '.join(held)}" if held else "")


def curves(found: dict, path: Path) -> None:
    fig, axes = plt.subplots(2, len(CURVES), figsize=(3.2 * len(CURVES), 6), dpi=100, squeeze=False)
    for row, (kind, budgets) in enumerate((("encoder", PROBE_EPOCHS), ("decoder", PROBE_DECODER_EPOCHS))):
        for ax, key in zip(axes[row], CURVES, strict=True):
            for i, method in enumerate(PROBE_METHODS):
                points = [(b, [value(m, COLUMNS[key].path) for m in found.get((method, kind, b), {}).values()])
                          for b in budgets]
                points = [(b, [v for v in vs if v is not None]) for b, vs in points]
                points = [(b, vs) for b, vs in points if vs]
                if points:
                    xs = [b for b, _ in points]
                    ax.errorbar(xs, [np.mean(vs) for _, vs in points], color=f"C{i}", marker="o", ms=3, lw=1,
                                yerr=[np.std(vs, ddof=1) if len(vs) > 1 else 0 for _, vs in points],
                                label=method if row == 0 and key == CURVES[0] else None)
            if not ax.lines:
                ax.text(0.5, 0.5, "no runs yet", transform=ax.transAxes, ha="center", va="center", fontsize=8)
            ax.set_xscale("log", base=2)
            ax.set_title(COLUMNS[key].title, fontsize=8)
            ax.set_xlabel("encoder epochs" if kind == "encoder" else f"decoder epochs at rate {BUDGET['decoder_lr']}"
                          f" (on {PROBE_DECODER_ON}-epoch encoders)", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.legend(fontsize=7, loc="upper center", ncol=len(PROBE_METHODS))
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    save_figure(fig, path)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "results/study-probe")
    found = runs(out)
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    curves(found, folder / "probe.png")
    header = "| question | endpoint | budget | seeds | A − B [95% CI] | change to next doubling | verdict |\n" + \
             "|---|---|---|---|---|---|---|\n"
    text = ["# The convergence probe", "", __doc__.split("\n\n")[2].replace("\n", " "), ""]
    for kind, budgets, title in (("encoder", PROBE_EPOCHS, "Encoder epochs (4 decoder-only epochs each at the "
                                                            "encoder's rate)"),
                                 ("decoder", PROBE_DECODER_EPOCHS, f"Decoder-only epochs on the {PROBE_DECODER_ON}"
                                                                   f"-epoch encoders at rate {BUDGET['decoder_lr']}")):
        rows = endpoint_rows(found, kind, budgets, arms_too=kind == "decoder")
        text += [f"## {title}", "", header + "".join("| " + " | ".join(r) + " |\n" for r in rows),
                 chosen_budget(rows, budgets), ""]
    checked = (BUDGET["epochs"], 2 * BUDGET["epochs"])
    rows = endpoint_rows(found, "protocol", checked)
    text += [f"## The encoder's budget again, with the protocol's decoder ({BUDGET['decoder_epochs']} epochs at rate "
             f"{BUDGET['decoder_lr']})", "", "The encoder's rows above decode at the encoder's rate; these decode "
             f"the {checked[0]}- and {checked[1]}-epoch encoders as the studies do.", "",
             header + "".join("| " + " | ".join(r) + " |\n" for r in rows), chosen_budget(rows, checked), ""]
    if missing := unmeasured(found):
        text += [f"Not measured by the probe's runs (their samplers do not include what it needs), so not part "
                 f"of the rule: {', '.join(missing)}.", ""]
    runs_done = sum(len(seeds) for seeds in found.values())
    text += [f"What the studies run, `isogen.catalog.BUDGET` (its comment says why where the rule left a choice): "
             f"{BUDGET}.", "", "![each method's metrics against the budget](probe.png)", "",
             f"*{runs_done} evaluated (method, budget, seed) points; mean ± std over the seeds a budget has (they "
             "differ between budgets, so a code-space metric such as EP T/N can step along the decoder's row).*"]
    write_text(folder / "probe.md", "\n".join(text) + "\n")
    print(folder / "probe.md")


if __name__ == "__main__":
    main()
