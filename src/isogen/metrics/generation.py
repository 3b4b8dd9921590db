"""Judging sets of generated images against the held-out test set, and the floor real images reach.

Every set, in the project classifier's penultimate features (cheap: every set at n = 10k): Frechet distance
(at the set's n against all test images), KID, the label histogram's entropy, the share of confidently
classified images, precision / recall / density / coverage on a common subset. The sets a caller asks
Inception for (`inception=True`) also get, with the literature's network: KID at n = `kid_n` (unbiased at
small n) and, when `fid_n` > 0, FID at n = `fid_n` (biased at small n: compare only at equal n).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..data import Dataset, as_float
from .classifier import DigitClassifier
from .frechet import feature_stats, frechet_between, frechet_distance
from .inception import InceptionFeatures, cached_features
from .kid import kid
from .prdc import prdc

CONFIDENT = 0.9  # a classifier probability above this counts as a confident reading
FLOORS: dict[tuple, dict] = {}  # floor() by (data set and classifier, KID n, FID n, Inception's device)


class SampleJudge:
    def __init__(self, data: Dataset, classifier: DigitClassifier, inception: InceptionFeatures | None, kid_n: int,
                 fid_n: int, prdc_samples: int, progress: bool = False):
        self.data, self.classifier, self.inception = data, classifier, inception
        self.kid_n, self.fid_n, self.prdc_samples, self.progress = kid_n, fid_n, prdc_samples, progress
        self.test_features = self.classifier_reference("test", data.test_images)
        self.inception_n = max(kid_n, fid_n) if inception else 0
        self.test_inception = self.reference("test", data.test_images) if self.inception_n else None

    def classifier_reference(self, split: str, images: torch.Tensor) -> np.ndarray:
        """The classifier's features of a fixed split (the test set; the floor's first 10k training images),
        cached exactly (float64) per data set and classifier: every evaluation compares with the same."""
        device = next(self.classifier.parameters()).device.type
        return cached_features(f"classifier-{self.classifier.key}-{split}-n{len(images)}-{device}",
                               lambda: self.classifier.features_and_probs(as_float(images))[0], np.float64)

    def reference(self, split: str, images: torch.Tensor) -> np.ndarray:
        """Inception features of the first `inception_n` images of a fixed split, cached per data set and n."""
        n = self.inception_n
        return cached_features(f"inception-{self.data.name}-{split}-n{n}-{self.inception.device.type}",
                               lambda: self.inception(as_float(images[:n]), self.progress))

    def __call__(self, images: torch.Tensor, inception: bool = False) -> dict:
        """images (N, 1, 28, 28) in [0, 1] on the CPU -> the set's scores."""
        feats, probs = self.classifier.features_and_probs(images)
        hist = np.bincount(probs.argmax(1), minlength=10) / len(probs)
        out = {"n": len(images), "classifier_fid": frechet_between(feats, self.test_features),
               **{f"classifier_{k}": v for k, v in kid(feats, self.test_features).items()},
               "label_entropy": float(-(hist[hist > 0] * np.log(hist[hist > 0])).sum()),
               "label_entropy_max": math.log(10), "confident_share": float((probs.max(1) > CONFIDENT).mean())}
        sub = min(self.prdc_samples, len(images))
        out.update(prdc(self.test_features[:sub], feats[:sub]))
        out["prdc_n"] = sub
        if inception and self.inception_n:
            out |= self.inception_scores(self.inception(images[:self.inception_n], self.progress))
        return out

    def inception_scores(self, features: np.ndarray) -> dict:
        out = {}
        if self.kid_n:
            n = min(self.kid_n, len(features))
            out |= {f"inception_{k}": v for k, v in kid(features[:n], self.test_inception[:self.kid_n]).items()}
            out["inception_kid_n"] = n
        if self.fid_n:
            n = min(self.fid_n, len(features))
            out["inception_fid"] = frechet_distance(*feature_stats(features[:n]),
                                                    *feature_stats(self.test_inception[:self.fid_n]))
            out["inception_fid_n"] = n
        return out

    def floor(self) -> dict:
        """The best a generator can hope for: real training images against the test set, at the same n.
        The same for every run of a data set: computed once per process."""
        key = (self.classifier.key, self.kid_n, self.fid_n, self.inception_n and self.inception.device.type)
        if key not in FLOORS:
            FLOORS[key] = self.compute_floor()
        return dict(FLOORS[key])

    def compute_floor(self) -> dict:
        train_feats = self.classifier_reference("train", self.data.train_images[:len(self.data.test_images)])
        out = {"classifier_fid": frechet_between(train_feats, self.test_features), "n": len(train_feats),
               **{f"classifier_{k}": v for k, v in kid(train_feats, self.test_features).items()}}
        if self.inception_n:
            out |= self.inception_scores(self.reference("train", self.data.train_images))
        return out
