"""The project's own digit classifier: its penultimate features give a cheap FID, KID, precision/recall
and diversity; its labels judge samples and interpolation frames.

Every evaluation judges with the same weights: they ship with isogen (isogen/metrics/judges/, named by data set
and a hash of the recipe), for a classifier trained on each machine is not one judge: its weights depend on
the thread count and the CPU (an earlier host's cached judge read one set of decoded prior samples 310.3 in
classifier FID where the shipped one reads 322.9). A recipe without shipped weights is trained on the CPU in
one thread (fixed seed; the shipped ones were made so) and cached. The weights' digest names the cached
reference features and is recorded in each run's metrics.json.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from filelock import FileLock
from torch import nn
from tqdm import tqdm

from ..data import DATASETS, Dataset, as_float
from ..errors import IsogenError
from ..files import cache_dir, save_torch

JUDGES = Path(__file__).parent / "judges"  # the shipped classifiers, classifier-<data set>-<recipe hash>.pt


@dataclass(frozen=True)
class ClassifierRecipe:
    epochs: int = 3
    batch_size: int = 128
    lr: float = 2e-3
    feature_dim: int = 128
    seed: int = 0
    version: int = 1  # bump when the architecture changes

    def key(self, dataset: str) -> str:
        recipe = json.dumps({"dataset": dataset, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(recipe.encode()).hexdigest()[:12]


class DigitClassifier(nn.Module):
    def __init__(self, feature_dim: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
            nn.Flatten(), nn.Linear(64 * 7 * 7, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, 10)
        self.key = ""  # data set, recipe hash and weights digest, set when loaded: names its reference features
        self.digest = ""  # sha256 of its weights file, set when loaded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def features_and_probs(self, images: torch.Tensor, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """(N, 1, 28, 28) in [0, 1] -> penultimate features (N, F), class probabilities (N, 10)."""
        device = next(self.parameters()).device
        feats, probs = [], []
        for i in range(0, len(images), batch_size):
            f = self.body(images[i:i + batch_size].to(device).float().contiguous(memory_format=torch.channels_last))
            feats.append(f.double().cpu())
            probs.append(F.softmax(self.head(f), dim=1).double().cpu())
        return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def train_classifier(data: Dataset, recipe: ClassifierRecipe, device: torch.device) -> tuple[DigitClassifier, float]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the thread count changes the sums' order, hence the weights
    try:
        return _train(data, recipe, device)
    finally:
        torch.set_num_threads(threads)


def _train(data: Dataset, recipe: ClassifierRecipe, device: torch.device) -> tuple[DigitClassifier, float]:
    generator = torch.Generator().manual_seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    model = DigitClassifier(recipe.feature_dim).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr)
    images, labels = data.train_images.to(device), data.train_labels.to(device)
    steps = len(images) // recipe.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.lr, total_steps=recipe.epochs * steps)
    model.train()
    for epoch in range(recipe.epochs):
        order = torch.randperm(len(images), generator=generator).to(device)
        for i in tqdm(range(steps), desc=f"classifier epoch {epoch + 1}/{recipe.epochs}", leave=False):
            batch = order[i * recipe.batch_size:(i + 1) * recipe.batch_size]
            loss = F.cross_entropy(model(as_float(images[batch])), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    _, probs = model.features_and_probs(as_float(data.test_images))
    accuracy = float((probs.argmax(1) == data.test_labels.numpy()).mean())
    return model, accuracy


def load_classifier(data: Dataset, device: torch.device | str = "cpu",
                    recipe: ClassifierRecipe = ClassifierRecipe()) -> tuple[DigitClassifier, float]:
    """The shipped classifier for `data`, else the cached one, trained (about two minutes) if missing."""
    device = torch.device(device)
    key = f"{data.name}-{recipe.key(data.name)}"
    path = JUDGES / f"classifier-{key}.pt"
    if path.exists():
        model, accuracy = _load(path, recipe)
    else:
        path = cache_dir() / f"classifier-{key}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{path}.lock"):  # processes that need it at once (a study's workers, tests) train it once
            model, accuracy = _load_or_train(data, recipe, path)
    model.digest = hashlib.sha256(path.read_bytes()).hexdigest()
    model.key = f"{key}-{model.digest[:8]}"  # names its reference features: other weights, other features
    return model.to(device, memory_format=torch.channels_last).eval(), accuracy  # as evaluation's models


def _load(path: Path, recipe: ClassifierRecipe) -> tuple[DigitClassifier, float]:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = DigitClassifier(recipe.feature_dim)
    model.load_state_dict(saved["model"])
    return model, float(saved["accuracy"])


def _load_or_train(data: Dataset, recipe: ClassifierRecipe, path: Path) -> tuple[DigitClassifier, float]:
    if path.exists():
        try:
            return _load(path, recipe)
        except Exception:  # a damaged cache entry is retrained, never trusted
            path.unlink(missing_ok=True)
    print(f"training the {data.name} classifier for classifier metrics (once; cached in {path})")
    model, accuracy = train_classifier(data, recipe, torch.device("cpu"))
    least = DATASETS[data.name].min_classifier_accuracy
    if accuracy < least:
        raise IsogenError(f"the {data.name} classifier reached only {accuracy:.4f} test accuracy "
                          f"(< {least}); classifier metrics would be unreliable")
    save_torch(path, {"model": {k: v.cpu() for k, v in model.state_dict().items()}, "accuracy": accuracy,
                      "recipe": asdict(recipe)})
    return model, accuracy
