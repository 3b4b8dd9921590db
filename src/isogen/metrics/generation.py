"""Judging sets of generated images against the held-out test set, and the floor real images reach.

Each set gets: classifier FID on the project classifier's penultimate features (at the set's n against
all test images), the label histogram's entropy and the share of confidently classified images,
precision / recall / density / coverage on a common subset, and Inception FID at n = `fid_n`.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..data import Dataset, as_float
from .classifier import DigitClassifier
from .frechet import feature_stats, frechet_between, frechet_distance
from .inception import InceptionFeatures, cached_stats, reference_stats
from .prdc import prdc

CONFIDENT = 0.9  # a classifier probability above this counts as a confident reading


class SampleJudge:
    def __init__(self, data: Dataset, classifier: DigitClassifier, inception: InceptionFeatures | None, fid_n: int,
                 prdc_samples: int, progress: bool = False):
        self.data, self.classifier, self.inception = data, classifier, inception
        self.fid_n, self.prdc_samples, self.progress = fid_n, prdc_samples, progress
        self.test_features, _ = classifier.features_and_probs(as_float(data.test_images))
        self.test_inception = reference_stats(inception, data, fid_n) if inception else None

    def __call__(self, images: torch.Tensor) -> dict:
        """images (N, 1, 28, 28) in [0, 1] on the CPU -> the set's scores."""
        feats, probs = self.classifier.features_and_probs(images)
        hist = np.bincount(probs.argmax(1), minlength=10) / len(probs)
        out = {"n": len(images), "classifier_fid": frechet_between(feats, self.test_features),
               "label_entropy": float(-(hist[hist > 0] * np.log(hist[hist > 0])).sum()),
               "label_entropy_max": math.log(10), "confident_share": float((probs.max(1) > CONFIDENT).mean())}
        sub = min(self.prdc_samples, len(images))
        out.update(prdc(self.test_features[:sub], feats[:sub]))
        out["prdc_n"] = sub
        if self.inception is not None:
            n = min(self.fid_n, len(images))
            out["inception_fid"] = frechet_distance(*feature_stats(self.inception(images[:n], self.progress)),
                                                    *self.test_inception)
            out["inception_fid_n"] = n
        return out

    def floor(self) -> dict:
        """The best a generator can hope for: real training images against the test set, at the same n."""
        train_images = as_float(self.data.train_images[:len(self.data.test_images)])
        train_feats, _ = self.classifier.features_and_probs(train_images)
        out = {"classifier_fid": frechet_between(train_feats, self.test_features), "n": len(train_images)}
        if self.inception is not None:
            n = self.fid_n
            out["inception_fid"] = frechet_distance(
                *cached_stats(f"inception-{self.data.name}-train-n{n}",
                              lambda: self.inception(train_images[:n], True)), *self.test_inception)
            out["inception_fid_n"] = n
        return out
