"""bench/boundary.py: neighbourhood purity against a brute-force NumPy reference, and the purity-matched
prior against a hand computation."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

SCRIPT = Path(__file__).parent.parent / "bench" / "boundary.py"
SPEC = importlib.util.spec_from_file_location("boundary", SCRIPT)
boundary = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(boundary)


def test_purity_and_nearest_distance_match_a_brute_force_reference():
    rng = np.random.default_rng(0)
    train, labels, z = rng.normal(size=(300, 5)), rng.integers(0, 10, 300), rng.normal(size=(40, 5))
    purity, nearest = boundary.neighbourhood(torch.tensor(z), torch.tensor(train), torch.tensor(labels), k=7, chunk=16)
    for i in range(len(z)):
        distances = np.sqrt(((train - z[i]) ** 2).sum(1))
        order = np.argsort(distances)[:7]
        assert purity[i].item() == pytest.approx(np.bincount(labels[order]).max() / 7)
        assert nearest[i].item() == pytest.approx(distances.min())


def test_the_purity_matched_prior_weights_the_oracles_bins_by_the_priors_shares():
    purity = {"prior": torch.tensor([0.5, 0.5, 1.0, 1.0]), "oracle": torch.tensor([0.5, 1.0, 1.0, 1.0])}
    confident = {"prior": torch.tensor([False, False, True, False]), "oracle": torch.tensor([True, True, True, False])}
    rows = {name: {"purity": purity[name], "confident": confident[name], "nearest": torch.ones(4)}
            for name in purity}
    table = boundary.binned(rows)
    actual, matched = boundary.purity_matched(rows, table)
    # bins <= 0.5: prior 1/2 of its points, oracle confident 1/1; 1.0: prior 1/2, oracle confident 2/3
    assert actual == {"prior": 0.25, "oracle": 0.75}
    assert matched == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
