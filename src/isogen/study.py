"""`isogen study SPEC`: every method under one protocol, over embedding sizes and seeds.

A study is a list of named entries (a method plus config overrides), crossed with `dims` and `seeds`,
plus a sensitivity grid around the main model. Each run lives in OUT/runs/<entry>-d<D>-s<seed>/; a run
with metrics.json is finished and skipped, one with a checkpoint is resumed, so killing the study loses
at most the run in progress. The data set is loaded once and shared by every run. `isogen.report`
turns the folder into OUT/report/.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import PRESETS, Config, make_config
from .data import Dataset
from .errors import IsogenError
from .files import read_json, read_jsonl, remove_stale_temporaries, write_json, write_jsonl
from .cluster import SlurmOptions, run_on_cluster
from .launcher import Evaluations, Job, choose_concurrency, describe_failure, train_all
from .methods import METHODS
from .metrics.evaluate import EvalOptions
from .runs import resolve_device

Scalar = str | int | float | bool


@dataclass
class Entry:
    label: str  # names the entry's runs and its rows in the report
    method: str  # a name in METHODS
    overrides: dict[str, Scalar] = field(default_factory=dict)  # config overrides of this entry


BASELINES = [
    Entry("infonce", "infonce"),
    Entry("sigreg-sphere", "sigreg-sphere", {"sigreg_target": "gauss"}),
    Entry("sigreg-sphere-exact", "sigreg-sphere", {"sigreg_target": "sphere"}),
    Entry("sigreg-gauss", "sigreg-gauss"),
    Entry("infonce-uniform", "infonce-uniform"),
    Entry("align-uniform", "align-uniform"),
    Entry("eccentric-ae", "eccentric-ae"),
    Entry("vae", "vae"),
    Entry("beta-vae", "beta-vae"),
    Entry("hs-vae", "hs-vae"),
    Entry("ae-gmm", "ae-gmm"),
]
# Question 5: the four contrastive encoders, each with the deterministic and the flow-matching decoder,
# decoded from the prior and from a learned code generator.
Q5_ENTRIES = [Entry(f"{label}{suffix}", method, {**overrides, "samplers": "prior,learned", **decoder})
              for label, method, overrides in [("sigreg-sphere", "sigreg-sphere", {"sigreg_target": "gauss"}),
                                               ("infonce", "infonce", {}), ("align-uniform", "align-uniform", {}),
                                               ("sigreg-gauss", "sigreg-gauss", {})]
              for suffix, decoder in [("", {}), ("-flow", {"decoder": "flow"})]]
SENSITIVITY = {"sigreg_weight": [0.02, 0.1, 0.5], "sigreg_slices": [32, 128], "temperature": [0.1, 0.2, 0.5]}
# Where do the answers stop moving? The encoder's budget in epochs, each its own run (the learning-rate
# schedule depends on it), then the same decoder-only epochs for all.
PROBE_METHODS, PROBE_EPOCHS = ("infonce", "sigreg-sphere", "ae-gmm"), (5, 10, 20, 40, 80)


@dataclass
class StudySpec:
    name: str
    preset: str  # training preset shared by every run ("" = the defaults)
    overrides: dict[str, Scalar] = field(default_factory=dict)  # config overrides shared by every run
    entries: list[Entry] = field(default_factory=lambda: [dataclasses.replace(e) for e in BASELINES])
    dims: list[int] = field(default_factory=lambda: [32])
    seeds: list[int] = field(default_factory=lambda: [0])
    main_entry: str = "sigreg-sphere"  # the entry the sensitivity grid varies
    sensitivity: dict[str, list[Scalar]] = field(default_factory=lambda: {k: list(v) for k, v in SENSITIVITY.items()})
    eval: EvalOptions = field(default_factory=EvalOptions)

    @classmethod
    def from_dict(cls, values: object, source: str) -> StudySpec:
        """A spec from parsed JSON, every field checked: a wrong one is named in a one-line error."""
        known = [f.name for f in dataclasses.fields(cls)]
        problem = None
        if not isinstance(values, dict):
            problem = f"a study spec must be a JSON object with keys among {known}, got {type(values).__name__}"
        elif unknown := sorted(set(values) - set(known)):
            problem = f"the keys must be among {known}, got {unknown}"
        elif missing := [k for k in ("name", "preset") if k not in values]:
            problem = f"the keys must be present: name and preset, got {missing} missing"
        else:
            problem = next((f"'{key}' must be {expected}, got {values[key]!r}" for key, (ok, expected) in
                            SPEC_FIELDS.items() if key in values and not ok(values[key])), None)
        if problem:
            raise IsogenError(f"{source}: {problem}; fix it in the study spec")
        typed = {"entries": [Entry(**e) for e in values["entries"]]} if "entries" in values else {}
        return cls(**{**values, **typed, "eval": EvalOptions(**values.get("eval", {}))})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> StudySpec:
        labels = [e.label for e in self.entries]
        if len(set(labels)) != len(labels):
            raise IsogenError(f"study {self.name}: entry labels repeat ({labels}); make them unique")
        for entry in self.entries:
            if entry.method not in METHODS:
                raise IsogenError(f"study {self.name}: unknown method {entry.method!r}; valid methods: "
                                  f"{', '.join(METHODS)}")
        unknown = sorted(set(self.sensitivity) - {f.name for f in dataclasses.fields(Config)})
        if unknown:
            raise IsogenError(f"study {self.name}: unknown config key {unknown[0]!r} in sensitivity; valid keys: "
                              f"{', '.join(f.name for f in dataclasses.fields(Config))}")
        if self.sensitivity and self.main_entry not in labels:
            raise IsogenError(f"study {self.name}: main_entry {self.main_entry!r} is not an entry label; "
                              f"use one of {labels}")
        for run in self.runs():  # every config must be valid before anything runs
            make_config(self.preset, run["overrides"])
        return self

    def runs(self) -> list[dict]:
        """Every run of the study: name, entry label, D, seed, the config overrides, its group."""
        out = [self._run(entry, dim, seed, "main", {}) for entry in self.entries for dim in self.dims
               for seed in self.seeds]
        main = next((e for e in self.entries if e.label == self.main_entry), None)
        for key, values in self.sensitivity.items():
            default = make_config(self.preset, {**self.overrides, **main.overrides}).to_dict()[key]
            for value in values:
                if value != default:  # the default is the main run itself
                    out.append(self._run(main, self.dims[0], self.seeds[0], f"sensitivity:{key}", {key: value}))
        return out

    def _run(self, entry: Entry, dim: int, seed: int, group: str, extra: dict) -> dict:
        suffix = "".join(f"-{k}{v}" for k, v in extra.items())
        overrides = {**self.overrides, **entry.overrides, **extra, "method": entry.method, "embed_dim": dim,
                     "seed": seed}
        return {"name": f"{entry.label}{suffix}-d{dim}-s{seed}", "label": entry.label, "dim": dim, "seed": seed,
                "group": group, "overrides": {k: str(v) for k, v in overrides.items()}}


def is_entry(value: object) -> bool:
    return (isinstance(value, dict) and {"label", "method"} <= set(value) <= {"label", "method", "overrides"}
            and isinstance(value["label"], str) and isinstance(value["method"], str)
            and is_scalar_map(value.get("overrides", {})))


def is_scalar_map(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(x, Scalar) for x in value.values())


def is_int_list(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(x, int) and not isinstance(x, bool) for x in value)


def is_value_lists(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(xs, list) and xs and all(isinstance(x, Scalar) for x in xs)
                                           for xs in value.values())


def is_eval_options(value: object) -> bool:
    try:
        return isinstance(value, dict) and set(value) <= set(EVAL_OPTIONS) and bool(EvalOptions(**value).validate())
    except IsogenError:
        return False


EVAL_OPTIONS = [f.name for f in dataclasses.fields(EvalOptions)]
SPEC_FIELDS = {  # field of a study JSON -> (its check, what it must be)
    "name": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "preset": (lambda v: isinstance(v, str), f"a string: '' or one of {list(PRESETS)}"),
    "overrides": (is_scalar_map, "an object of config keys to numbers or strings"),
    "entries": (lambda v: isinstance(v, list) and bool(v) and all(map(is_entry, v)),
                'a non-empty list of {"label": ..., "method": ..., "overrides": {...}} objects'),
    "dims": (is_int_list, "a non-empty list of integers"),
    "seeds": (is_int_list, "a non-empty list of integers"),
    "main_entry": (lambda v: isinstance(v, str), "a string (an entry label)"),
    "sensitivity": (is_value_lists, "an object of config keys to non-empty lists of values"),
    "eval": (is_eval_options, f"an object with keys among {EVAL_OPTIONS} and valid values (isogen eval --help)"),
}


def _small(name: str, **fields) -> StudySpec:
    """The CPU protocol: D=32, a sixth of MNIST for 4 epochs, Inception FID at n=200."""
    return StudySpec(name=name, preset="quick", overrides={"train_subset": 10000, "epochs": 4, "warmup_steps": 20},
                     eval=EvalOptions(fid_samples=200, samples=2000, pairs=200, null_draws=50, probe_train=5000),
                     **fields)


STUDIES = {
    # CPU, under an hour on 2 cores: one seed plus the sensitivity grid.
    "study-small": _small("study-small"),
    # The same runs over seeds 0-2 without the sensitivity grid, for error bars (~1.5 h on 2 cores; its
    # seed-0 runs are study-small's, so copying those run folders in skips them).
    "study-small-seeds": _small("study-small-seeds", seeds=[0, 1, 2], sensitivity={}),
    # One GPU: the whole grid, 3 seeds, full data, 10k-sample Inception FID.
    "study-full": StudySpec(name="study-full", preset="full", dims=[32, 64, 128], seeds=[0, 1, 2]),
    # One GPU, first: the convergence probe (seed 0, D=64), whose plateau fixes the encoder's budget.
    "study-probe": StudySpec(name="study-probe", preset="full", overrides={"decoder_epochs": 20},
                             entries=[Entry(f"{method}-e{epochs}", method, {"epochs": epochs})
                                      for method in PROBE_METHODS for epochs in PROBE_EPOCHS],
                             dims=[64], seeds=[0], sensitivity={}),
    # One GPU: the baselines beside the literature (Ghosh et al. 2020, Table 1: MNIST, D=16, FID at n=10k).
    "study-literature": StudySpec(name="study-literature", preset="full", overrides={"decoder_epochs": 20},
                                  entries=[Entry("vae", "vae"), Entry("ae-gmm", "ae-gmm")], dims=[16],
                                  seeds=[0, 1, 2], sensitivity={}),
    # One GPU, Question 5: 8 entries at D=64 over 3 seeds.
    "study-q5": StudySpec(name="study-q5", preset="full", entries=[dataclasses.replace(e) for e in Q5_ENTRIES],
                          dims=[64], seeds=[0, 1, 2], sensitivity={}),
}


def load_spec(name_or_path: str) -> StudySpec:
    if name_or_path in STUDIES:
        return StudySpec.from_dict(STUDIES[name_or_path].to_dict(), name_or_path).validate()
    path = Path(name_or_path)
    if not path.is_file():
        raise IsogenError(f"unknown study {name_or_path!r}: neither a preset ({', '.join(STUDIES)}) nor a JSON file")
    return StudySpec.from_dict(read_json(path), str(path)).validate()


def run_study(spec: StudySpec, out: str | Path, device: str = "auto", progress: bool = True, concurrent: int = 0,
              eval_workers: int = -1, launcher: str = "local", slurm: SlurmOptions | None = None) -> dict[str, str]:
    """Train and evaluate every run not yet finished: here, `concurrent` runs at a time (0: chosen from the
    free memory), evaluated in `eval_workers` background processes (-1: one on CUDA, none on a CPU); or with
    launcher="submitit", one Slurm array task per run (isogen.cluster). Returns the runs that failed,
    name -> one line (also in OUT/failures.jsonl); the others are unaffected."""
    out = Path(out)
    spec_file = out / "study.json"
    if spec_file.exists() and StudySpec.from_dict(read_json(spec_file), str(spec_file)) != spec:
        raise IsogenError(f"{out} holds another study ({spec_file} differs); use a new output folder")
    write_json(spec_file, spec.to_dict())
    remove_stale_temporaries(out)  # of a study killed while writing its records
    jobs = pending_jobs(spec, out, device)
    if launcher != "local":
        resolved, concurrent = launcher, len(jobs)
        print(f"{spec.name}: {len(jobs)} of {len(spec.runs())} runs to do, one {launcher} task each")
    else:
        resolved = resolve_device(device)
        concurrent = concurrent or choose_concurrency(jobs, resolved)
        eval_workers = eval_workers if eval_workers >= 0 else int(resolved.type == "cuda")
        print(f"{spec.name}: {len(jobs)} of {len(spec.runs())} runs to do on {resolved}, {concurrent} at a time, "
              f"evaluated {'in ' + str(eval_workers) + ' worker process(es)' if eval_workers else 'after each run'}")
    timings = {r["name"]: r for r in read_jsonl(out / "timings.jsonl")}
    failures: dict[str, str] = {}
    started = time.perf_counter()

    def evaluated(name: str, error: BaseException | None) -> None:
        if error is not None:
            failures[name] = describe_failure(error)
            return
        run_dir = out / "runs" / name
        train_s = sum(r["seconds"] for r in read_jsonl(run_dir / "log.jsonl"))  # of its epochs, K at a time
        timings[name] = {"name": name, "train_s": round(train_s, 1),
                         "eval_s": read_json(run_dir / "metrics.json")["protocol"]["seconds"]}
        write_jsonl(out / "timings.jsonl", list(timings.values()))

    if launcher != "local":
        run_on_cluster(jobs, spec.eval, device, out / "submitit", launcher, slurm or SlurmOptions(), evaluated, progress)
    else:
        datasets: dict[tuple, Dataset] = {}  # loaded once per (data set, folder), shared by the runs
        evaluations = Evaluations(spec.eval, device, eval_workers, datasets, evaluated)
        try:
            train_all(jobs, concurrent, datasets, evaluations.submit,  # evaluation draws the pictures, off this loop
                      lambda name, error: failures.__setitem__(name, describe_failure(error)), progress,
                      pictures=False)
        finally:
            evaluations.close()
    write_jsonl(out / "failures.jsonl", [{"name": k, "error": v} for k, v in failures.items()])
    session = {"runs": len(jobs), "failed": len(failures), "concurrent": concurrent, "device": str(resolved),
               "wall_s": round(time.perf_counter() - started, 1)}
    write_jsonl(out / "sessions.jsonl", read_jsonl(out / "sessions.jsonl") + [session])  # one line per invocation
    return failures


def pending_jobs(spec: StudySpec, out: Path, device: str) -> list[Job]:
    """The runs without metrics.json, with their configs (unfinished runs resume from their checkpoints)."""
    return [Job(run["name"], make_config(spec.preset, {**run["overrides"], "device": device}),
                out / "runs" / run["name"]) for run in spec.runs()
            if not (out / "runs" / run["name"] / "metrics.json").exists()]


def collect(spec: StudySpec, out: Path) -> list[dict]:
    """Every finished run with its metrics and final training log record."""
    rows = []
    for run in spec.runs():
        run_dir = out / "runs" / run["name"]
        if (run_dir / "metrics.json").exists():
            rows.append({**run, "metrics": read_json(run_dir / "metrics.json"),
                         "log": read_jsonl(run_dir / "log.jsonl")[-1], "dir": run_dir})
    return rows
