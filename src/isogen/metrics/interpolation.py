"""Paths between pairs of test codes: what their midpoints look like, how evenly the images change
along them, and how many frames still read as a digit."""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..geometry import Geometry
from .classifier import DigitClassifier
from .generation import CONFIDENT


def interpolation_metrics(z1: torch.Tensor, z2: torch.Tensor, geometry: Geometry, steps: int,
                          decode: Callable[..., torch.Tensor], classifier: DigitClassifier,
                          judge: Callable[[torch.Tensor], dict]) -> dict:
    """z1, z2 (P, D) path ends; decode(codes (N, D), noise_group) -> images (N, 1, 28, 28) on the CPU, a
    stochastic decoder's noise shared within each group (here: each path); judge scores a set of images
    (see SampleJudge). For lerp and slerp: the midpoint set's FIDs, the step evenness max/mean of the P
    paths' consecutive-frame distances (1 = equal steps) in pixels and in classifier features, and the
    share of confidently classified frames."""
    out, midpoint_judgements = {}, {}
    for mode in ("lerp", "slerp"):
        paths = geometry.interpolate(z1, z2, steps, mode)  # (P, S, D)
        frames = decode(paths.reshape(-1, paths.shape[-1]), steps)  # (P*S, 1, 28, 28), one noise per path
        feats, probs = classifier.features_and_probs(frames)
        p, s = paths.shape[:2]
        pixel_steps = (frames.reshape(p, s, -1).diff(dim=1).norm(dim=2)).double()  # (P, S-1)
        feat_steps = torch.as_tensor(feats).reshape(p, s, -1).diff(dim=1).norm(dim=2)
        shared = "lerp" if geometry.shared_midpoint else mode  # judge a shared midpoint set once
        if shared not in midpoint_judgements:
            midpoint_judgements[shared] = judge(decode(geometry.interpolate(z1, z2, 3, mode)[:, 1]))  # t = 1/2
        mid = midpoint_judgements[shared]
        out[mode] = {
            "midpoint_classifier_fid": mid["classifier_fid"],
            **({"midpoint_inception_fid": mid["inception_fid"], "midpoint_inception_fid_n": mid["inception_fid_n"]}
               if "inception_fid" in mid else {}),
            "step_evenness_pixels": float((pixel_steps.max(1).values / pixel_steps.mean(1).clamp(min=1e-12)).mean()),
            "step_evenness_features": float((feat_steps.max(1).values / feat_steps.mean(1).clamp(min=1e-12)).mean()),
            "confident_frame_share": float((probs.max(1) > CONFIDENT).mean()),
            "pairs": p, "frames_per_path": s,
        }
    return out
