"""The study report: the protocol, the primary endpoints, one table per question, the prior-oracle gap, the
literature check, the agreement of the two generation metrics, pictures side by side; a list of blocks that
isogen.pages writes as Markdown and as a self-contained HTML page. Everything it shows is read from the run
folders' small files (config, log, metrics, pictures), so a fresh clone rebuilds it from committed results."""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import stats

from . import figures
from .catalog import ENDPOINTS, QUESTIONS, TUNED_ENDPOINTS
from .files import read_json, read_jsonl
from .metrics.schema import COLUMNS, value
from .pages import render
from .report_pictures import pictures
from .runner import collect, main_rows
from .statistics import holm, paired_difference
from .study import StudySpec

# Ghosh et al. 2020 (arXiv 1903.12436), Table 1: MNIST, latent 16, Inception FID of 10k samples
LITERATURE = {("vae", "prior"): 19.21, ("vae", "gmm"): 17.66, ("ae-gmm", "matched"): 58.73, ("ae-gmm", "gmm"): 10.66}
GAP_COLUMNS = ("n_prior", "confident", "confident_oracle", "confident_gap", "cfid_prior", "cfid_oracle",
               "code_fd_prior", "nearest_prior", "nearest_oracle", "nearest_null", "idim", "idim_null")


def fmt(values: list, digits: int) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "—"
    if len(set(values)) == 1:  # one seed, or seeds that agree exactly (an n): no spread to show
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def table(rows: list[dict], keys: tuple[str, ...], labels: tuple[str, ...] = ()) -> tuple[list, list]:
    """Rows of (entry, D) with mean ± std over seeds of each column."""
    header = ["method", "D", "seeds"] + [COLUMNS[k].title for k in keys]
    body = [[label, str(dim), str(len(ms))] + [fmt([value(m, COLUMNS[k].path) for m in ms], COLUMNS[k].digits)
                                               for k in keys]
            for (label, dim), ms in main_rows(rows, labels).items()]
    return header, body


def endpoint_tests(rows: list[dict], dims: list[int], endpoints: list[tuple] = ENDPOINTS) -> list[tuple]:
    """The declared endpoints the study has runs for, at each D of `dims`: (question, column title, "A − B", D,
    the difference paired over seeds with its 95% interval, its p adjusted by Holm's method across all of them)."""
    tests = []
    for question, key, *arms in endpoints:
        for dim in dims:
            a, b = ({row["run"].seed: value(row["metrics"], COLUMNS[key].path) for row in rows
                     if row["run"].varied is None and row["run"].entry == label and row["run"].dim == dim}
                    for label in arms)
            difference = paired_difference(a, b)
            if difference is not None:
                tests.append((question, COLUMNS[key].title, " − ".join(arms), dim, difference))
    return [(*test, adjusted) for test, adjusted in zip(tests, holm([t[-1].p for t in tests]), strict=True)]


def endpoint_table(tests: list[tuple]) -> tuple[list, list]:
    header = ["question", "endpoint", "A − B", "D", "seeds", "mean difference [95% CI]", "p", "p, Holm"]
    return header, [[question, title, arms, str(dim), str(d.n), str(d), f"{d.p:.3g}", f"{adjusted:.3g}"]
                    for question, title, arms, dim, d, adjusted in tests]


def literature_table(rows: list[dict]) -> tuple[list, list]:
    header = ["method", "sampler", "D", "seed", "Inception FID (n)", "Ghosh et al. 2020"]
    body = []
    for row in rows:
        for sampler, record in row["metrics"]["generation"].items():
            if "inception_fid" in record:
                run = row["run"]
                body.append([run.entry, sampler, str(run.dim), str(run.seed),
                             f"{record['inception_fid']:.2f} ({record['inception_fid_n']})",
                             str(LITERATURE.get((run.entry, sampler), "—")) if run.dim == 16 else "—"])
    return header, body


def mixed_judges(rows: list[dict]) -> str | None:
    """Classifier metrics compare only between runs one classifier judged. Its floor (training against test
    images in its features) is a function of the judge alone, recorded by every run, older ones too, up to the
    rounding of the CPU that computed it (one judge's floor differed by 9e-7 between an AMD and an Intel host)."""
    groups: dict[float, list[str]] = {}
    for row in rows:
        floor = row["metrics"]["floor"]["classifier_fid"]
        same = next((f for f in groups if math.isclose(f, floor, rel_tol=1e-5)), floor)
        groups.setdefault(same, []).append(row["run"].name)
    return None if len(groups) < 2 else (
        "**Warning: these runs were judged by different classifiers** (told apart by their floor classifier FID); "
        "classifier metrics compare only within a group: "
        + "; ".join(f"floor {floor:.6f}: {len(names)} runs ({', '.join(names)})" for floor, names in groups.items())
        + ".")


def agreement(rows: list[dict], n: int, kid_n: int) -> str | None:
    """Spearman's rank correlation of classifier FID and Inception KID (prior) over the runs judged at the study's
    n and KID n (FID is biased by n: runs judged on fewer images would rank by their n as much as their samples)."""
    pairs = [(value(m, COLUMNS["cfid_prior"].path), value(m, COLUMNS["kid_prior"].path))
             for m in (r["metrics"] for r in rows)
             if value(m, "generation.prior.n") == n and value(m, "generation.prior.inception_kid_n") == kid_n]
    pairs = [p for p in pairs if None not in p]
    if len(pairs) < 3:
        return None
    rho, p = stats.spearmanr(*zip(*pairs, strict=True))
    return (f"Spearman's rank correlation of classifier FID (n = {n}) and Inception KID (n = {kid_n}) of the prior "
            f"samples over the {len(pairs)} runs judged at those n: rho = {rho:.3f} (p = {p:.2g}; 1 = the same "
            "order).")


def write_report(spec: StudySpec, out: Path) -> Path:
    rows = collect(spec, out)
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    blocks: list[tuple] = [("h1", f"isogen study: {spec.name}")]
    if not rows:
        blocks.append(("p", "No finished runs yet."))
        return render(blocks, folder)
    blocks.append(("p", protocol_text(spec, rows)))
    floor = rows[0]["metrics"]["floor"]
    inception = "".join(f", Inception {name} {floor[key]:.{digits}f} (n = {floor[key + '_n']})" for key, name, digits
                        in (("inception_kid", "KID", 5), ("inception_fid", "FID", 2)) if key in floor)
    blocks.append(("p", f"Floor (real training images vs the test set): classifier FID {floor['classifier_fid']:.2f}, "
                        f"classifier KID {floor['classifier_kid']:.4f} (n = {floor['n']}){inception}."))
    blocks += [("p", text)] if (text := mixed_judges(rows)) else []  # before any classifier metric
    # the questions are answered at the study's D; its other D's are a secondary family, adjusted on their own
    primary = endpoint_tests(rows, spec.dims[:1])
    secondary = endpoint_tests(rows, sorted({row["run"].dim for row in rows} - set(spec.dims[:1])))
    tuned = endpoint_tests(rows, spec.dims[:1], TUNED_ENDPOINTS)
    if primary:
        blocks += [("h2", "Primary endpoints"),
                   ("p", f"One endpoint per question at D = {spec.dims[0]}, declared in isogen/catalog.py (ENDPOINTS) "
                         "before the numbers: the difference A − B paired by seed, its mean with the 95% t-interval, "
                         "the paired t-test's p, and p adjusted by Holm's method across this table."),
                   ("table", *endpoint_table(primary))]
    if secondary:
        blocks += [("h2", "The same differences at other D (secondary)"),
                   ("p", "The declared differences at the study's other D, with Holm's adjustment across this "
                         f"table alone: they qualify the answers at D = {spec.dims[0]}, they do not replace them."),
                   ("table", *endpoint_table(secondary))]
    if tuned:
        blocks += [("h2", "The same differences at each arm's best knob (secondary)"),
                   ("p", "The declared differences with each contrastive arm at the value where its seed-0 grid read "
                         "the best prior ('-tuned' entries: isogen/catalog.py, TUNED), on the seeds that did not "
                         "choose it (seed 0 did), with Holm's adjustment across this table alone."),
                   ("table", *endpoint_table(tuned))]
    if primary or secondary or tuned:
        figures.endpoints(folder / "endpoints.png", [(f"{q} {title}: {arms}, D = {dim}", d.mean, d.low, d.high, p)
                                                     for q, title, arms, dim, d, p in primary + secondary + tuned])
        blocks.append(("img", "endpoints.png", "The endpoints: primary, then at other D, then at each arm's best "
                                               "knob, each on its own scale (blue: Holm p < 0.05 within its "
                                               "table)."))
    for q in QUESTIONS:
        header, body = table(rows, q.columns, q.labels)
        if body and any(any(c != "—" for c in r[3:]) for r in body):  # a question the study has numbers for
            blocks += [("h2", f"{q.key}. {q.title}"), ("p", q.text), ("table", header, body)]
    header, body = table(rows, GAP_COLUMNS)
    blocks += [("h2", "The prior-oracle gap"),
               ("p", "Decoded prior points beside decoded real codes (the oracle), on the same classifier metrics "
                     "(on as many images as the n column says), and in code space: the Frechet distance of the "
                     "prior's codes to the test codes, and the mean distance to the nearest training code of prior "
                     "points and of test codes, beside the same distance had the codes followed the prior (as many, "
                     "drawn from it)."),
               ("table", header, body)]
    header, body = literature_table(rows)
    if body:
        blocks += [("h2", "Beside the literature"),
                   ("p", "Inception FID at the n stated (biased upward at small n: compare only at equal n), in "
                         "the literature entries' evaluation or after it (bench/inception_fid.py, the headline arm). "
                         "Ghosh et al.'s best, models isogen lacks: RAE-L2 with a GMM 8.69, WAE with a GMM 9.39."),
                   ("table", header, body)]
    if text := agreement(rows, spec.eval.samples, spec.eval.kid_samples):
        blocks += [("h2", "Do the two generation metrics agree?"), ("p", text)]
    blocks += pictures(spec, rows, folder)
    return render(blocks, folder)


def protocol_text(spec: StudySpec, rows: list) -> str:
    c = rows[0]["metrics"]["protocol"]
    env = c["environment"]
    config = read_json(rows[0]["dir"] / "config.json")
    train_seconds = sum(sum(r["seconds"] for r in read_jsonl(row["dir"] / "log.jsonl")) for row in rows)
    seeds = sorted({r["run"].seed for r in rows})
    budget = f"; the budget is {spec.budget}" if spec.budget else ""
    return (f"Protocol: {len(rows)} runs ({len({r['run'].entry for r in rows})} entries, D in "
            f"{sorted({r['run'].dim for r in rows})}, seeds {seeds}); preset '{spec.preset}' with {spec.overrides}: "
            f"{config['epochs']} encoder epochs and {config['decoder_epochs']} decoder-only epochs on the frozen "
            f"encoder's codes, batch {config['batch_size']}, {c['train_images_for_samplers']} training images, "
            f"{config['encoder']} encoder (width {config['encoder_width']}), decoder width {config['decoder_width']}, "
            f"lr {config['lr']}{budget}. Evaluation on the {c['test_images']} test images, classifier metrics "
            f"(classifier test accuracy {c['classifier_test_accuracy']:.4f}), Inception ({c['inception']}). "
            f"{evaluation_sizes(rows)} Hardware: {env['device_name']} ({env['device']}, "
            f"{env['cpu_threads']} threads), torch {env['torch']}; training wall time {train_seconds / 60:.1f} min "
            f"in all. Numbers are mean ± std over seeds (one value when one seed).")


def evaluation_sizes(rows: list) -> str:
    """Every n of the runs' evaluation, then the runs evaluated otherwise (by entry if all its runs were)."""
    shown = lambda o: ", ".join(f"{k} {v}" for k, v in o.items() if k not in ("maps", "seed"))  # noqa: E731
    options = [(row["run"], row["metrics"]["protocol"]["options"]) for row in rows]
    keys = [json.dumps(o, sort_keys=True) for _, o in options]
    common = options[keys.index(Counter(keys).most_common(1)[0][0])][1]  # the options most runs had
    others: dict[str, list[str]] = {}
    for run, o in (pair for pair in options if pair[1] != common):
        labels = others.setdefault(shown({k: v for k, v in o.items() if v != common[k]}), [])
        label = run.entry if all(other == o for r, other in options if r.entry == run.entry) else run.name
        labels += [] if label in labels else [label]
    return (f"Evaluation sizes (isogen eval --help): {shown(common)}"
            + "".join(f"; {', '.join(labels)}: {diff}" for diff, labels in others.items()) + ".")
