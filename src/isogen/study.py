"""A study: named entries (a method plus config overrides) crossed with embedding sizes and seeds, each
entry's knob grid, and the runs that reuse another entry's encoders; planned here as typed runs.

    Entry     a method and its overrides; its own dims and seeds, or the study's; `grid`: values of one or
              more config keys, each its own run at the entry's first D and seed; `encoder`: the label of
              another entry whose trained encoder its runs decode (a run built with `--from`: only the
              decoder's keys may differ), so two decoders of one encoder are a paired comparison and the
              encoder trains once; `literature`: its first seed's run at that D gets Inception FID at
              n = literature_fid for every sampler,
              to stand beside published numbers (at the D it names); `eval`: its runs' evaluation options
              over the study's (a flow decoder's runs sample fewer images: it costs an ODE per image);
              `after_grids`: its runs train after every grid run (they confirm a value a grid chose).
    RunPlan   one run: its folder name, entry, D, seed, the grid point it varies (if any), its config
              overrides, the run whose encoder it decodes (if any), its evaluation options.

Run folders are OUT/runs/<entry>[-<key><value>]-d<D>-s<seed>/; `isogen.runner` trains and evaluates the
pending ones, `isogen.report` writes OUT/report/, `isogen.catalog` holds the named studies.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .config import DECODER_KEYS, PRESETS, Config, make_config
from .errors import IsogenError
from .methods import METHODS, check_keys, make_method
from .metrics.evaluate import EvalOptions

Scalar = str | int | float | bool


@dataclass
class Entry:
    label: str  # names the entry's runs and its rows in the report
    method: str  # a name in METHODS
    overrides: dict[str, Scalar] = field(default_factory=dict)  # config overrides of this entry
    dims: list[int] = field(default_factory=list)  # [] = the study's
    seeds: list[int] = field(default_factory=list)  # [] = the study's
    seeds_other_dims: list[int] = field(default_factory=list)  # the seeds at dims after the first ([] = seeds)
    grid: dict[str, list[Scalar]] = field(default_factory=dict)  # key -> values, at the first D and seed
    encoder: str = ""  # the entry whose encoders its runs decode ("" = its own)
    literature: int = 0  # a D compared with published numbers: Inception FID on its first seed's run there
    eval: dict[str, int | bool] = field(default_factory=dict)  # evaluation options of its runs, over the study's
    after_grids: bool = False  # its runs train last, after the knobs (a value chosen by a grid, confirmed)


@dataclass(frozen=True)
class RunPlan:
    name: str  # the run folder's name
    entry: str
    dim: int
    seed: int
    varied: tuple[str, Scalar] | None  # the grid point this run varies, or None for a main run
    overrides: dict[str, str]  # its config overrides over the study's preset
    source: str  # the run whose encoder it decodes ("" = its own)
    eval: EvalOptions


@dataclass
class StudySpec:
    name: str
    preset: str  # training preset shared by every run ("" = the defaults)
    overrides: dict[str, Scalar] = field(default_factory=dict)  # config overrides shared by every run
    entries: list[Entry] = field(default_factory=list)
    dims: list[int] = field(default_factory=lambda: [64])
    seeds: list[int] = field(default_factory=lambda: [0])
    eval: EvalOptions = field(default_factory=EvalOptions)
    literature_fid: int = 10000  # Inception FID's n for literature entries (Ghosh et al. 2020 use 10k)
    budget: str = ""  # why its training budget is what it is (the report's protocol line says it)

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

    def entry(self, label: str) -> Entry:
        return next(e for e in self.entries if e.label == label)

    def validate(self) -> StudySpec:
        def fail(problem: str, fix: str) -> None:
            raise IsogenError(f"study {self.name}: {problem}; {fix}")

        labels = [e.label for e in self.entries]
        if not labels or len(set(labels)) != len(labels):
            fail(f"entry labels are missing or repeat ({labels})", "give every entry its own label")
        keys = {f.name for f in dataclasses.fields(Config)}
        for entry in self.entries:
            if entry.method not in METHODS:
                fail(f"unknown method {entry.method!r}", f"valid methods: {', '.join(METHODS)}")
            if unknown := sorted(set(entry.grid) - keys):
                fail(f"unknown config key {unknown[0]!r} in the grid of {entry.label}", "use Config's keys")
            if entry.encoder:
                before = self.entries[:self.entries.index(entry)]
                source = next((e for e in before if e.label == entry.encoder), None)
                if source is None or source.encoder or source.method != entry.method:
                    fail(f"{entry.label} decodes the encoders of {entry.encoder!r}", "name an earlier entry of the "
                         "same method that trains its own encoder")
                if not {(d, s) for d, s in self.points(entry)} <= {(d, s) for d, s in self.points(source)}:
                    fail(f"{entry.label} has dims or seeds that {source.label} lacks", "give it a subset of them")
                if encoder_keys := sorted(k for k in {**entry.overrides, **entry.grid} if k not in DECODER_KEYS):
                    fail(f"{entry.label} decodes {source.label}'s encoders but sets {encoder_keys}",
                         f"set only the decoder's keys ({', '.join(sorted(DECODER_KEYS))})")
        for run in self.runs():  # every config must be valid, every entry's setting read, before anything runs
            entry = self.entry(run.entry)
            check_keys(make_config(self.preset, run.overrides), {**entry.overrides, **entry.grid})
        return self

    def points(self, entry: Entry) -> list[tuple[int, int]]:
        """(D, seed) of the entry's main runs: its seeds at its first D, seeds_other_dims at the others."""
        dims, seeds = entry.dims or self.dims, entry.seeds or self.seeds
        return [(d, s) for i, d in enumerate(dims) for s in (entry.seeds_other_dims or seeds if i else seeds)]

    def runs(self) -> list[RunPlan]:
        """Every run in the order they train: every entry's main runs at its first D, then its main runs at its
        other D, then its grid runs, then the entries `after_grids`, each tier in the entries' order — so that a
        study stopped part way (one that spans sessions) has measured every arm at its seeds before the other
        dimensions and the knobs, and the knobs before the runs that confirm what they chose. A run that decodes
        another run's encoder keeps to that run's tier or a later one, so it comes after it."""
        tiers: dict[str, int] = {}
        runs = []
        for entry in self.entries:
            first = self.points(entry)[0]
            main = [self._run(entry, d, s, None) for d, s in self.points(entry)]
            default = self.config_overrides(entry, *first, None)
            resolved = make_config(self.preset, default).to_dict()
            grid = [self._run(entry, *first, (key, value)) for key, values in entry.grid.items()
                    for value in values if value != resolved[key]]  # the default is the main run itself
            for run in main + grid:
                tier = 3 if entry.after_grids else 2 if run.varied else int(run.dim != first[0])
                tiers[run.name] = max(tier, tiers.get(run.source, 0))
                runs.append(run)
        return sorted(runs, key=lambda run: tiers[run.name])  # stable: the entries' order within a tier

    def config_overrides(self, entry: Entry, dim: int, seed: int, varied: tuple[str, Scalar] | None) -> dict:
        source = self.entry(entry.encoder) if entry.encoder else None
        overrides = {**self.overrides, **(source.overrides if source else {}), **entry.overrides,
                     **dict([varied] if varied else []), "method": entry.method, "embed_dim": dim, "seed": seed}
        if source:
            overrides["encoder_from"] = f"../{source.label}-d{dim}-s{seed}"
        return {k: str(v) for k, v in overrides.items()}

    def _run(self, entry: Entry, dim: int, seed: int, varied: tuple[str, Scalar] | None) -> RunPlan:
        suffix = f"-{varied[0]}{varied[1]}" if varied else ""
        overrides = self.config_overrides(entry, dim, seed, varied)
        options = dataclasses.replace(self.eval, **entry.eval)
        if dim == entry.literature and seed == (entry.seeds or self.seeds)[0]:  # every sampler: the literature
            config = make_config(self.preset, overrides)  # reports a prior's FID and a GMM's
            options = dataclasses.replace(options, fid_samples=self.literature_fid,
                                          kid_samplers=len(make_method(config).sampler_names))
        return RunPlan(f"{entry.label}{suffix}-d{dim}-s{seed}", entry.label, dim, seed, varied, overrides,
                       f"{entry.encoder}-d{dim}-s{seed}" if entry.encoder else "", options)


def is_entry(value: object) -> bool:
    allowed = {f.name for f in dataclasses.fields(Entry)}
    return (isinstance(value, dict) and {"label", "method"} <= set(value) <= allowed
            and isinstance(value["label"], str) and isinstance(value["method"], str)
            and is_scalar_map(value.get("overrides", {})) and is_value_lists(value.get("grid", {}))
            and all(is_int_list(value[k]) or value[k] == [] for k in ("dims", "seeds", "seeds_other_dims")
                    if k in value)
            and isinstance(value.get("encoder", ""), str) and isinstance(value.get("literature", 0), int)
            and isinstance(value.get("after_grids", False), bool)
            and is_eval_options(value.get("eval", {})))


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
                'a non-empty list of {"label": ..., "method": ..., "overrides": {...}, ...} objects '
                f"(keys among {[f.name for f in dataclasses.fields(Entry)]})"),
    "dims": (is_int_list, "a non-empty list of integers"),
    "seeds": (is_int_list, "a non-empty list of integers"),
    "eval": (is_eval_options, f"an object with keys among {EVAL_OPTIONS} and valid values (isogen eval --help)"),
    "literature_fid": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 10, "an integer >= 10"),
    "budget": (lambda v: isinstance(v, str), "a string"),
}
