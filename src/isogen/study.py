"""`isogen study SPEC`: every method under one protocol, over embedding sizes and seeds, then a report.

A study is a list of named entries (a method plus config overrides), crossed with `dims` and `seeds`,
plus a sensitivity grid around the main model. Each run lives in OUT/runs/<entry>-d<D>-s<seed>/; a run
with metrics.json is finished and skipped, one with a checkpoint is resumed, so killing the study loses
at most the run in progress. `report.write_report` turns the folder into OUT/report/.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .config import make_config
from .errors import IsogenError
from .files import read_json, read_jsonl, write_json, write_jsonl
from .metrics.evaluate import EvalOptions, evaluate_run
from .methods import METHODS
from .runs import CHECKPOINT, load_checkpoint
from .train import train

BASELINES = [
    {"label": "infonce", "method": "infonce"},
    {"label": "sigreg-sphere", "method": "sigreg-sphere", "overrides": {"sigreg_target": "gauss"}},
    {"label": "sigreg-sphere-exact", "method": "sigreg-sphere", "overrides": {"sigreg_target": "sphere"}},
    {"label": "sigreg-gauss", "method": "sigreg-gauss"},
    {"label": "align-uniform", "method": "align-uniform"},
    {"label": "eccentric-ae", "method": "eccentric-ae"},
    {"label": "vae", "method": "vae"},
    {"label": "beta-vae", "method": "beta-vae"},
    {"label": "hs-vae", "method": "hs-vae"},
    {"label": "ae-gmm", "method": "ae-gmm"},
]
SENSITIVITY = {"sigreg_weight": [0.02, 0.1, 0.5], "sigreg_slices": [32, 128], "temperature": [0.1, 0.2, 0.5]}


@dataclass
class StudySpec:
    name: str
    preset: str  # training preset shared by every run
    overrides: dict = field(default_factory=dict)  # shared config overrides
    entries: list = field(default_factory=lambda: [dict(e) for e in BASELINES])
    dims: list = field(default_factory=lambda: [32])
    seeds: list = field(default_factory=lambda: [0])
    main_entry: str = "sigreg-sphere"  # the entry the sensitivity grid varies
    sensitivity: dict = field(default_factory=lambda: {k: list(v) for k, v in SENSITIVITY.items()})
    eval: dict = field(default_factory=dict)  # EvalOptions fields

    def validate(self) -> StudySpec:
        labels = [e["label"] for e in self.entries]
        if len(set(labels)) != len(labels):
            raise IsogenError(f"study {self.name}: entry labels repeat ({labels}); make them unique")
        for entry in self.entries:
            if entry["method"] not in METHODS:
                raise IsogenError(f"study {self.name}: unknown method {entry['method']!r}; valid methods: "
                                  f"{', '.join(METHODS)}")
        if self.sensitivity and self.main_entry not in labels:
            raise IsogenError(f"study {self.name}: main_entry {self.main_entry!r} is not an entry label")
        unknown = set(self.eval) - {f.name for f in dataclasses.fields(EvalOptions)}
        if unknown:
            raise IsogenError(f"study {self.name}: unknown eval options {sorted(unknown)}")
        for run in self.runs():  # every config must be valid before anything runs
            make_config(self.preset, run["overrides"])
        return self

    def runs(self) -> list[dict]:
        """Every run of the study: name, entry label, D, seed, the config overrides, its group."""
        out = []
        for entry in self.entries:
            for dim in self.dims:
                for seed in self.seeds:
                    out.append(self._run(entry, dim, seed, "main", {}))
        main = next((e for e in self.entries if e["label"] == self.main_entry), None)
        for key, values in self.sensitivity.items():
            default = make_config(self.preset, {**self.overrides, **main.get("overrides", {})}).to_dict()[key]
            for value in values:
                if value != default:  # the default is the main run itself
                    out.append(self._run(main, self.dims[0], self.seeds[0], f"sensitivity:{key}", {key: value}))
        return out

    def _run(self, entry: dict, dim: int, seed: int, group: str, extra: dict) -> dict:
        suffix = "".join(f"-{k}{v}" for k, v in extra.items())
        overrides = {**self.overrides, **entry.get("overrides", {}), **extra, "method": entry["method"],
                     "embed_dim": dim, "seed": seed}
        return {"name": f"{entry['label']}{suffix}-d{dim}-s{seed}", "label": entry["label"], "dim": dim, "seed": seed,
                "group": group, "overrides": {k: str(v) for k, v in overrides.items()}}


def _small(name: str, **fields) -> StudySpec:
    """The CPU protocol: D=32, a sixth of MNIST for 4 epochs, Inception FID at n=200."""
    return StudySpec(name=name, preset="quick", overrides={"train_subset": 10000, "epochs": 4, "warmup_steps": 20},
                     eval={"fid_samples": 200, "samples": 2000, "pairs": 200, "null_draws": 50, "probe_train": 5000},
                     **fields)


STUDIES = {
    # CPU, under an hour on 2 cores: one seed plus the sensitivity grid.
    "study-small": _small("study-small"),
    # The same runs over seeds 0-2 without the sensitivity grid, for error bars (~1.5 h on 2 cores; its
    # seed-0 runs are study-small's, so copying those run folders in skips them).
    "study-small-seeds": _small("study-small-seeds", seeds=[0, 1, 2], sensitivity={}),
    # One GPU: the whole grid, 3 seeds, full data, 10k-sample Inception FID.
    "study-full": StudySpec(name="study-full", preset="full", dims=[32, 64, 128], seeds=[0, 1, 2]),
}


def load_spec(name_or_path: str) -> StudySpec:
    if name_or_path in STUDIES:
        return dataclasses.replace(STUDIES[name_or_path]).validate()
    path = Path(name_or_path)
    if not path.is_file():
        raise IsogenError(f"unknown study {name_or_path!r}: neither a preset ({', '.join(STUDIES)}) nor a JSON file")
    values = read_json(path)
    known = {f.name for f in dataclasses.fields(StudySpec)}
    if not isinstance(values, dict) or set(values) - known:
        raise IsogenError(f"{path}: a study spec is a JSON object with keys among {sorted(known)}")
    return StudySpec(**values).validate()


def run_study(spec: StudySpec, out: str | Path, device: str = "auto", progress: bool = True) -> Path:
    """Train and evaluate every run not yet finished, then write the report. Returns the report folder."""
    from .report import write_report

    out = Path(out)
    spec_file = out / "study.json"
    if spec_file.exists() and read_json(spec_file) != dataclasses.asdict(spec):
        raise IsogenError(f"{out} holds another study ({spec_file} differs); use a new output folder")
    write_json(spec_file, dataclasses.asdict(spec))
    timings = {r["name"]: r for r in read_jsonl(out / "timings.jsonl")}
    eval_options = EvalOptions(**{**spec.eval, "device": device})
    runs = spec.runs()
    for run in tqdm(runs, desc=spec.name, disable=not progress):
        run_dir = out / "runs" / run["name"]
        if (run_dir / "metrics.json").exists():
            continue
        started = time.perf_counter()
        config = make_config(spec.preset, {**run["overrides"], "device": device})
        done = (run_dir / CHECKPOINT).exists() and load_checkpoint(run_dir)["epoch"] >= config.epochs
        if not done:
            print(f"\n== {run['name']}: training")
            train(config, run_dir, resume=True, progress=False)
        trained_s = time.perf_counter() - started
        print(f"== {run['name']}: evaluating")
        evaluate_run(run_dir, eval_options, progress=False)
        timings[run["name"]] = {"name": run["name"], "train_s": round(trained_s, 1),
                                "total_s": round(time.perf_counter() - started, 1)}
        write_jsonl(out / "timings.jsonl", list(timings.values()))
    return write_report(spec, out)


def collect(spec: StudySpec, out: Path) -> list[dict]:
    """Every finished run with its metrics and final training log record."""
    rows = []
    for run in spec.runs():
        run_dir = out / "runs" / run["name"]
        if (run_dir / "metrics.json").exists():
            rows.append({**run, "metrics": read_json(run_dir / "metrics.json"),
                         "log": read_jsonl(run_dir / "log.jsonl")[-1], "dir": run_dir})
    return rows

