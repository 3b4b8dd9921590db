"""The shape of metrics.json, stated once: which numbers each section holds, their titles and precision.

    isotropy, representation, reconstruction, floor   one record each
    oracle                                            real (training) codes decoded, judged as samples
    generation.<sampler>, interpolation.<lerp|slerp>  one record per entry

A column's path may be a difference of two paths, "a - b" (e.g. the gap between two samplers).

`COLUMNS` (the study report's table columns) and `summary` (what `isogen eval` prints) both read it.
"""
from __future__ import annotations

import math
from typing import NamedTuple


class Field(NamedTuple):
    key: str
    title: str  # "{entry}" stands for the sampler or path mode
    digits: int


SECTIONS: dict[str, list[Field]] = {
    "isotropy": [Field("eigenvalue_spread", "eigenvalue spread", 1), Field("effective_rank", "effective rank", 1),
                 Field("mean_resultant_length", "mean resultant length", 3),
                 Field("uniformity_t2", "uniformity (t=2)", 3), Field("alignment_a2", "alignment (a=2)", 3),
                 Field("ep_statistic", "EP statistic", 2), Field("ep_per_code", "EP T/N", 5),
                 Field("ep_null_per_code", "EP T/N, uniform", 5), Field("ep_p_value", "EP p-value", 3)],
    "representation": [Field("linear_probe_accuracy", "linear probe", 4), Field("knn5_accuracy", "5-NN", 4)],
    "reconstruction": [Field("mse_per_pixel", "recon MSE", 4), Field("bce_per_pixel", "recon BCE", 4)],
    "floor": [Field("inception_kid", "Inception KID", 5), Field("inception_kid_n", "n", 0),
              Field("inception_fid", "Inception FID", 2), Field("inception_fid_n", "n", 0),
              Field("classifier_fid", "classifier FID", 2), Field("classifier_kid", "classifier KID", 4),
              Field("n", "n", 0)],
    "oracle": [Field("classifier_fid", "classifier FID, oracle", 1),
               Field("classifier_kid", "classifier KID, oracle", 4),
               Field("confident_share", "confident, oracle", 3), Field("code_fd", "code FD, oracle", 3),
               Field("nearest_train_distance", "test code to nearest training code, oracle", 3),
               Field("nearest_distance_under_prior", "to nearest training code, codes ~ prior", 3),
               Field("intrinsic_dimension", "intrinsic dimension (TwoNN), codes", 1),
               Field("intrinsic_dimension_under_prior", "intrinsic dimension (TwoNN), codes ~ prior", 1)],
}
PER_ENTRY: dict[str, list[Field]] = {
    "generation": [Field("inception_kid", "Inception KID, {entry}", 5), Field("inception_kid_n", "n", 0),
                   Field("inception_fid", "Inception FID, {entry}", 1), Field("inception_fid_n", "n", 0),
                   Field("classifier_fid", "classifier FID, {entry}", 1),
                   Field("classifier_kid", "classifier KID, {entry}", 4), Field("n", "n", 0),
                   Field("precision", "precision, {entry}", 3), Field("recall", "recall, {entry}", 3),
                   Field("confident_share", "confident samples, {entry}", 3),
                   Field("label_entropy", "label entropy, {entry}", 3),
                   Field("code_fd", "code FD, {entry}", 3),
                   Field("nearest_train_distance", "to nearest training code, {entry}", 3)],
    "interpolation": [Field("midpoint_classifier_fid", "midpoint classifier FID", 1),
                      Field("midpoint_inception_fid", "midpoint Inception FID", 1),
                      Field("step_evenness_pixels", "evenness {entry} (px)", 2),
                      Field("step_evenness_features", "evenness {entry} (features)", 2),
                      Field("confident_frame_share", "confident frames, {entry}", 3)],
}


class Column(NamedTuple):
    title: str
    path: str  # dotted path in metrics.json
    digits: int


def column(section: str, key: str, entry: str = "") -> Column:
    fields = {f.key: f for f in (PER_ENTRY[section] if entry else SECTIONS[section])}
    f = fields[key]
    return Column(f.title.format(entry=entry), ".".join(p for p in (section, entry, key) if p), f.digits)


def gap(key: str, a: str, b: str, title: str) -> Column:
    """The difference of one generation field between two samplers (or "oracle"), a - b."""
    path = lambda entry: f"oracle.{key}" if entry == "oracle" else f"generation.{entry}.{key}"  # noqa: E731
    return Column(title, f"{path(a)} - {path(b)}", column("generation", key, "prior").digits)


COLUMNS: dict[str, Column] = {
    "kid_prior": column("generation", "inception_kid", "prior"),
    "fid_prior": column("generation", "inception_fid", "prior"),
    "fid_matched": column("generation", "inception_fid", "matched"),
    "fid_gmm": column("generation", "inception_fid", "gmm"),
    "n_prior": column("generation", "n", "prior"),  # FID is biased by n: rows compare at equal n
    "cfid_prior": column("generation", "classifier_fid", "prior"),
    "cfid_matched": column("generation", "classifier_fid", "matched"),
    "cfid_gmm": column("generation", "classifier_fid", "gmm"),
    "cfid_learned": column("generation", "classifier_fid", "learned"),
    "cfid_vmf": column("generation", "classifier_fid", "vmf"),
    "cfid_oracle": column("oracle", "classifier_fid"),
    "ckid_prior": column("generation", "classifier_kid", "prior"),
    "precision": column("generation", "precision", "prior"),
    "recall": column("generation", "recall", "prior"),
    "confident": column("generation", "confident_share", "prior"),
    "confident_learned": column("generation", "confident_share", "learned"),
    "entropy": column("generation", "label_entropy", "prior"),
    "confident_oracle": column("oracle", "confident_share"),
    "mse": column("reconstruction", "mse_per_pixel"),
    "bce": column("reconstruction", "bce_per_pixel"),
    "probe": column("representation", "linear_probe_accuracy"),
    "knn": column("representation", "knn5_accuracy"),
    "mid_cfid": column("interpolation", "midpoint_classifier_fid", "lerp"),
    "even_lerp": column("interpolation", "step_evenness_pixels", "lerp"),
    "even_slerp": column("interpolation", "step_evenness_pixels", "slerp"),
    "frames": column("interpolation", "confident_frame_share", "lerp"),
    "ep": column("isotropy", "ep_statistic"),
    "ep_p": column("isotropy", "ep_p_value"),
    "ep_n": column("isotropy", "ep_per_code"),
    "ep_null_n": column("isotropy", "ep_null_per_code"),
    "spread": column("isotropy", "eigenvalue_spread"),
    "rank": column("isotropy", "effective_rank"),
    "mrl": column("isotropy", "mean_resultant_length"),
    "unif": column("isotropy", "uniformity_t2"),
    "align": column("isotropy", "alignment_a2"),
    "code_fd_prior": column("generation", "code_fd", "prior"),
    "code_fd_learned": column("generation", "code_fd", "learned"),
    "nearest_prior": column("generation", "nearest_train_distance", "prior"),
    "nearest_oracle": column("oracle", "nearest_train_distance"),
    "nearest_null": column("oracle", "nearest_distance_under_prior"),
    "idim": column("oracle", "intrinsic_dimension"),
    "idim_null": column("oracle", "intrinsic_dimension_under_prior"),
    "cfid_gap": gap("classifier_fid", "prior", "learned", "classifier FID, prior - learned"),
    "confident_gap": gap("confident_share", "oracle", "prior", "confident, oracle - prior"),
}


def value(metrics: dict, path: str):
    """The number at a dotted path of metrics.json (or the difference "a - b"), or None where the run has none."""
    if " - " in path:
        a, b = (value(metrics, part) for part in path.split(" - "))
        return None if a is None or b is None else a - b
    node = metrics
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def summary(metrics: dict) -> str:
    """One line per section and per entry: every schema field the run has, at its precision."""

    def line(name: str, record: dict, fields: list[Field]) -> str:
        # the line names the entry, so titles drop it: "classifier FID, {entry}" -> "classifier FID"
        parts = [f"{f.title.replace(', {entry}', '').replace(' {entry}', '')} {record[f.key]:.{f.digits}f}"
                 for f in fields if isinstance(record.get(f.key), (int, float)) and math.isfinite(record[f.key])]
        return f"{name}: " + ", ".join(parts)

    lines = [line(section, metrics[section], fields) for section, fields in SECTIONS.items() if section in metrics]
    for section, fields in PER_ENTRY.items():
        lines += [line(f"{section}[{entry}]", record, fields) for entry, record in metrics.get(section, {}).items()]
    return "\n".join(lines)
