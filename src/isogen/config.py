"""One typed configuration per run: defaults, presets as small diffs, strict overrides.

A run folder stores the resolved config as JSON and every checkpoint carries it, so
sampling and evaluation rebuild the model from the folder alone.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, fields

from .augment import AffineRanges
from .data import DATASETS
from .errors import IsogenError


@dataclass
class Config:
    # what is trained
    method: str = "sigreg-sphere"  # a name in isogen.methods.METHODS
    encoder: str = "cnn"  # a name in isogen.models.ENCODERS
    # the projection head's normalisation: batch (SimCLR's BatchNorm) | running (normalised by running moments in
    # training too, so no code depends on its batch: isogen.models.encoders)
    head_norm: str = "batch"
    decoder: str = "deconv"  # a name in isogen.models.DECODERS
    embed_dim: int = 64  # D, the latent dimension
    # data
    dataset: str = "mnist"  # mnist | fashion-mnist
    data_dir: str = ""  # folder of IDX files; "" = search the standard places
    train_subset: int = 0  # use the first N training images; 0 = all 60k
    # optimisation
    epochs: int = 10
    decoder_epochs: int = 0  # then the encoder is frozen and the decoder alone trains on its codes
    encoder_from: str = ""  # a trained run folder (relative to this run's) whose frozen encoder this run decodes
    batch_size: int = 512  # N images per step (2N views for contrastive methods)
    lr: float = 2e-3
    decoder_lr: float = 0.0  # the decoder-only stage's peak learning rate (0: lr)
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "bf16"  # bf16 autocast on CUDA, or fp32; CPU always trains in fp32
    cuda_graph: bool = True  # on CUDA, capture the training step once as a graph and replay it
    channels_last: bool = False  # NHWC memory layout for the convolutions
    checkpoint_every: int = 1  # epochs between checkpoints (the last epoch is always saved)
    # when the encoder's stage ends, set its BatchNorm running moments to the clean training images' own
    # (isogen.codes.recompute_batchnorm): clean images are then normalised by their own moments, as the views
    # were by theirs in training (study-gap: the codes of clean images sit far from uniform where views' do not)
    bn_recompute: bool = False
    # contrastive views: random affine transforms
    # clean_view: the first view of every image is the image itself, so the codes the objective (SIGReg) sees
    # include those of clean images, which the decoder and the prior use
    clean_view: bool = False
    rotation_deg: float = 12.0
    translate_px: float = 2.0
    scale_frac: float = 0.1
    shear_deg: float = 8.0
    # InfoNCE
    temperature: float = 0.2
    # SIGReg
    sigreg_weight: float = 0.1  # lambda
    sigreg_slices: int = 256  # M random directions per step
    sigreg_target: str = "gauss"  # gauss (N(0,1), as LeJEPA) | sphere (the exact Bessel CF)
    sigreg_knots: int = 17  # K trapezoid knots on [0, sigreg_t_max]
    sigreg_t_max: float = 3.0
    sigreg_views: str = "pooled"  # pooled: one statistic over both views' 2N embeddings | separate: per view, averaged
    # KoLeo beside SIGReg: levels the codes' local density (study-gap: at D = 8 it trades class structure for coverage)
    koleo_weight: float = 0.0
    # Wang-Isola align/uniform
    uniformity_t: float = 2.0
    uniformity_weight: float = 1.0  # lambda of infonce-uniform (InfoNCE + lambda * uniformity)
    alignment_alpha: float = 2.0
    # autoencoder baselines
    beta: float = 4.0  # KL weight of beta-vae (vae uses 1)
    eccentric_weight: float = 0.01
    eccentric_mu: float = 1.0
    hs_weight: float = 1.0  # beta of hs-vae, reached after hs_anneal_epochs (grows as sqrt(epoch))
    hs_mean_cos: float = 1.0  # prior on the batch mean of cos(phi_k) of the posterior means (Ascarate et al. 2025: 1)
    hs_std_cos: float = 0.1  # prior on their batch standard deviation (our choice)
    hs_anneal_epochs: int = 10
    sphere_noise_deg: float = 80.0  # sphere-ae: the largest angle a code is jittered by in training
    sphere_consistency_weight: float = 1.0  # sphere-ae: pixel consistency (far and near points decode alike)
    sphere_latent_weight: float = 1.0  # sphere-ae: latent consistency (a far point's image encodes back)
    # code samplers (isogen.samplers.SAMPLERS), fitted to the training codes after training
    samplers: str = ""  # comma-separated names; "" = the method's own (its prior, if any, first)
    gmm_components: int = 10
    sampler_fit_steps: int = 4000  # training steps of a sampler that learns (the code flow); closed forms ignore it
    code_flow_width: int = 256  # the learned code sampler's residual MLP: width and number of blocks
    code_flow_depth: int = 3
    code_flow_steps: int = 20  # its ODE steps (a small MLP over D numbers: cheap, so many)
    # the flow-matching decoder (decoder=flow) and every flow sampled by an ODE
    refine_steps: int = 0  # sphere runs: z <- encode(decode(z)) this many times after a sampler draws (Sphere Encoder)
    flow_steps: int = 4  # ODE steps from noise to sample (4 midpoint steps: 8 network passes; bench/flow_steps.py)
    flow_solver: str = "midpoint"  # euler | midpoint | rk4 (fixed-step, torchdiffeq's names)
    flow_guidance: float = 1.0  # classifier-free guidance scale at sampling; 1 = the conditional model alone
    flow_drop_prob: float = 0.1  # share of training codes replaced by the learned null code (for guidance)
    ema_decay: float = 0.999  # of the decoder's EMA weights, which generate; warmed up as (1+k)/(10+k)
    # network widths (channels of the first layer; later layers double it)
    encoder_width: int = 32
    decoder_width: int = 64

    def validate(self) -> Config:
        def need(ok: bool, problem: str, fix: str) -> None:
            if not ok:
                raise IsogenError(f"bad config value: {problem}; {fix}")

        need(self.embed_dim >= 3, f"embed_dim={self.embed_dim}", "use embed_dim >= 3")
        need(self.epochs >= 1, f"epochs={self.epochs}", "use epochs >= 1")
        need(self.decoder_epochs >= 0, f"decoder_epochs={self.decoder_epochs}", "use decoder_epochs >= 0")
        need(not self.encoder_from or self.decoder_epochs >= 1, f"encoder_from={self.encoder_from!r} with "
             f"decoder_epochs={self.decoder_epochs}", "a run on another run's encoder trains its decoder: set "
             "decoder_epochs >= 1")
        need(self.batch_size >= 2, f"batch_size={self.batch_size}", "use batch_size >= 2")
        need(self.train_subset >= 0, f"train_subset={self.train_subset}", "use 0 (all) or a positive count")
        need(self.lr > 0, f"lr={self.lr}", "use a positive learning rate")
        need(self.decoder_lr >= 0, f"decoder_lr={self.decoder_lr}", "use a positive learning rate, or 0 for lr's")
        need(self.weight_decay >= 0, f"weight_decay={self.weight_decay}", "use weight_decay >= 0")
        need(self.checkpoint_every >= 1, f"checkpoint_every={self.checkpoint_every}", "use checkpoint_every >= 1")
        need(self.warmup_steps >= 0, f"warmup_steps={self.warmup_steps}", "use warmup_steps >= 0")
        need(0 <= self.min_lr_ratio <= 1, f"min_lr_ratio={self.min_lr_ratio}", "use a value in [0, 1]")
        need(self.temperature > 0, f"temperature={self.temperature}", "use temperature > 0")
        need(self.sigreg_weight >= 0, f"sigreg_weight={self.sigreg_weight}", "use sigreg_weight >= 0")
        need(self.koleo_weight >= 0, f"koleo_weight={self.koleo_weight}", "use koleo_weight >= 0")
        need(self.sigreg_slices >= 1, f"sigreg_slices={self.sigreg_slices}", "use sigreg_slices >= 1")
        need(self.sigreg_target in ("gauss", "sphere"), f"sigreg_target={self.sigreg_target!r}",
             "use 'gauss' or 'sphere'")
        need(self.sigreg_knots >= 3, f"sigreg_knots={self.sigreg_knots}", "use sigreg_knots >= 3")
        need(self.sigreg_t_max > 0, f"sigreg_t_max={self.sigreg_t_max}", "use sigreg_t_max > 0")
        need(self.sigreg_views in ("pooled", "separate"), f"sigreg_views={self.sigreg_views!r}",
             "use pooled or separate")
        need(self.uniformity_t > 0, f"uniformity_t={self.uniformity_t}", "use uniformity_t > 0")
        need(self.uniformity_weight >= 0, f"uniformity_weight={self.uniformity_weight}", "use uniformity_weight >= 0")
        need(self.alignment_alpha > 0, f"alignment_alpha={self.alignment_alpha}", "use alignment_alpha > 0")
        need(self.beta >= 0, f"beta={self.beta}", "use beta >= 0")
        need(self.eccentric_weight >= 0, f"eccentric_weight={self.eccentric_weight}", "use eccentric_weight >= 0")
        need(self.eccentric_mu > 0.5, f"eccentric_mu={self.eccentric_mu}", "use eccentric_mu > 0.5")
        need(self.hs_weight >= 0, f"hs_weight={self.hs_weight}", "use hs_weight >= 0")
        need(-1 <= self.hs_mean_cos <= 1, f"hs_mean_cos={self.hs_mean_cos}", "use a cosine in [-1, 1]")
        need(self.hs_std_cos >= 0, f"hs_std_cos={self.hs_std_cos}", "use hs_std_cos >= 0")
        need(0 < self.sphere_noise_deg <= 90, f"sphere_noise_deg={self.sphere_noise_deg}", "use an angle in (0, 90]")
        need(self.sphere_consistency_weight >= 0 and self.sphere_latent_weight >= 0,
             f"sphere_consistency_weight={self.sphere_consistency_weight}, sphere_latent_weight="
             f"{self.sphere_latent_weight}", "use weights >= 0")
        need(self.refine_steps >= 0, f"refine_steps={self.refine_steps}", "use refine_steps >= 0")
        need(self.hs_anneal_epochs >= 1, f"hs_anneal_epochs={self.hs_anneal_epochs}", "use hs_anneal_epochs >= 1")
        need(self.sampler_fit_steps >= 1, f"sampler_fit_steps={self.sampler_fit_steps}", "use sampler_fit_steps >= 1")
        need(self.code_flow_width >= 8 and self.code_flow_depth >= 1, f"code_flow_width={self.code_flow_width}, "
             f"code_flow_depth={self.code_flow_depth}", "use a width >= 8 and a depth >= 1")
        need(self.flow_steps >= 1 and self.code_flow_steps >= 1, f"flow_steps={self.flow_steps}, code_flow_steps="
             f"{self.code_flow_steps}", "use steps >= 1")
        need(self.flow_solver in FLOW_SOLVERS, f"flow_solver={self.flow_solver!r}",
             f"use one of {', '.join(FLOW_SOLVERS)}")
        need(self.flow_guidance >= 0, f"flow_guidance={self.flow_guidance}", "use flow_guidance >= 0 (1: no guidance)")
        need(0 <= self.flow_drop_prob < 1, f"flow_drop_prob={self.flow_drop_prob}", "use a probability in [0, 1)")
        need(0 <= self.ema_decay < 1, f"ema_decay={self.ema_decay}", "use ema_decay in [0, 1)")
        need(all(self.sampler_names()), f"samplers={self.samplers!r}",
             "use comma-separated sampler names, e.g. samplers=prior,matched")
        need(self.gmm_components >= 1, f"gmm_components={self.gmm_components}", "use gmm_components >= 1")
        need(self.encoder_width >= 4, f"encoder_width={self.encoder_width}", "use encoder_width >= 4")
        need(self.decoder_width >= 8, f"decoder_width={self.decoder_width}", "use decoder_width >= 8")
        for name in ("rotation_deg", "translate_px", "scale_frac", "shear_deg"):
            need(getattr(self, name) >= 0, f"{name}={getattr(self, name)}", f"use {name} >= 0")
        need(self.scale_frac < 1, f"scale_frac={self.scale_frac}", "use scale_frac < 1")
        need(self.precision in ("bf16", "fp32"), f"precision={self.precision!r}", "use 'bf16' or 'fp32'")
        need(self.dataset in DATASETS, f"dataset={self.dataset!r}", f"use one of {', '.join(DATASETS)}")
        return self

    @property
    def total_epochs(self) -> int:
        """The encoder's epochs, then the decoder's alone."""
        return self.epochs + self.decoder_epochs

    def sampler_names(self) -> list[str]:
        """The names in `samplers` (empty: the method decides)."""
        return [name.strip() for name in self.samplers.split(",")] if self.samplers else []

    def affine_ranges(self) -> AffineRanges:
        """The ranges of the random affine views (contrastive training, and alignment in evaluation)."""
        return AffineRanges(self.rotation_deg, self.translate_px, self.scale_frac, self.shear_deg)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> Config:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise IsogenError(f"{source} has unknown keys {unknown}: it was written by another "
                              "version of isogen; start a new run folder")
        return cls(**values)

    def with_overrides(self, overrides: dict[str, str]) -> Config:
        """Apply `key=value` strings from the command line, converting to each field's type."""
        types_by_name = {f.name: f.type for f in fields(self)}
        hints = typing.get_type_hints(type(self))
        changes = {}
        for key, text in overrides.items():
            key = key.replace("-", "_")
            if key not in types_by_name:
                raise IsogenError(f"unknown config key {key!r}; valid keys: {', '.join(types_by_name)}")
            changes[key] = _parse_value(key, text, hints[key])
        return dataclasses.replace(self, **changes)


# What a run built on another run's encoder (encoder_from) may set differently from that run: the decoder,
# its training and sampling, the code samplers, and where and how the run is executed. Every other key
# describes the encoder, and must be the source's.
DECODER_KEYS = frozenset({
    "decoder", "decoder_width", "decoder_epochs", "decoder_lr", "encoder_from", "flow_steps", "flow_solver",
    "flow_guidance", "flow_drop_prob", "ema_decay", "refine_steps", "samplers", "gmm_components",
    "sampler_fit_steps", "code_flow_width", "code_flow_steps", "code_flow_depth", "device", "data_dir",
    "checkpoint_every", "cuda_graph", "precision", "channels_last"})
FLOW_SOLVERS = ("euler", "midpoint", "rk4")


def _parse_value(key: str, text: str, kind: type) -> object:
    if isinstance(kind, types.UnionType):
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        return str(text)
    except ValueError:
        raise IsogenError(f"config key {key!r} needs a {kind.__name__}, got {text!r}") from None


# Presets are small diffs over the defaults.
PRESETS: dict[str, dict] = {
    # make demo, minutes on a 2-core CPU: half of MNIST, the encoder alone for a few epochs, then its decoder.
    # The decoder at its own rate: at the encoder's, the same two epochs decode blurrier (results/bench/decoder-lr/).
    # D = 8, lambda = 1 and the clean view: study-gap's best for uniform points (0.56 of them decode to confident
    # digits here, against 0.38 at its earlier D = 32, lambda = 0.1; n = 5000, bench/refine.py --steps 0).
    "quick": dict(epochs=6, decoder_epochs=2, train_subset=30000, batch_size=256, embed_dim=8, sigreg_weight=1.0,
                  clean_view=True, warmup_steps=50, sigreg_slices=128, lr=3e-3, decoder_width=48, decoder_lr=0.024),
    # The real experiment for one GPU.
    # Checkpoints every 10 epochs: a run takes seconds on a GPU, so a kill costs little and writes stay rare.
    "full": dict(epochs=40, sigreg_slices=512, warmup_steps=200, checkpoint_every=10),
    # Seconds: for tests and for checking that a configuration runs end to end.
    "smoke": dict(epochs=2, train_subset=1024, batch_size=128, embed_dim=16, warmup_steps=4,
                  sigreg_slices=32, decoder_width=16),
}
# The same, with the flow-matching decoder and the learned code sampler trained for a few steps.
PRESETS["smoke-flow"] = PRESETS["smoke"] | dict(decoder="flow", samplers="prior,learned", sampler_fit_steps=50,
                                                code_flow_width=32, flow_steps=2, code_flow_steps=2)


def make_config(preset: str = "", overrides: dict[str, str] | None = None) -> Config:
    if preset and preset not in PRESETS:
        raise IsogenError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    base = dataclasses.replace(Config(), **PRESETS.get(preset, {}))
    return base.with_overrides(overrides or {}).validate()


def parse_assignments(items: list[str]) -> dict[str, str]:
    """['epochs=3', 'lr=1e-3'] -> {'epochs': '3', 'lr': '1e-3'}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise IsogenError(f"override {item!r} is not of the form key=value (e.g. epochs=3)")
        out[key.lstrip("-")] = value
    return out

