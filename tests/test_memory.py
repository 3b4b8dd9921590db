"""The memory estimate against the real allocations of a small run, and its refusal of a huge one."""
import pytest
import torch

import isogen.memory as memory
from isogen.config import make_config
from isogen.errors import IsogenError
from isogen.methods import make_method


@pytest.mark.parametrize("name, decoder", [("sigreg-sphere", "deconv"), ("vae", "deconv"), ("ae-gmm", "deconv"),
                                           ("infonce", "flow")])
def test_estimate_counts_the_real_parameters_and_randomness(name, decoder):
    config = make_config("smoke", {"method": name, "decoder": decoder})
    parts = memory.estimate_bytes(config, 1024)
    method = make_method(config)
    model = method.build_model()
    assert parts["model + optimiser"] == 16 * sum(p.numel() for p in model.parameters())
    noise = method.epoch_noise(model, 1024 // config.batch_size, config.batch_size, torch.Generator())
    assert parts["randomness"] == sum(v.numel() * v.element_size() for v in noise.values())
    assert parts["data"] == 1024 * (28 * 28 + 8)
    # activations: at least the network's input and output for one batch, far less than a gigabyte here
    assert 2 * config.batch_size * 28 * 28 * 4 < parts["activations"] < 2**30


def test_a_run_that_cannot_fit_is_refused_naming_its_settings(monkeypatch):
    monkeypatch.setattr(memory, "free_bytes", lambda device: 24 * 2**30)
    config = make_config("full", {"embed_dim": "100000"})
    with pytest.raises(IsogenError, match=r"embed_dim=100000, batch_size=512 needs about 3\d\.\d GiB on cpu "
                                          r"\(randomness 2\d\.\d\d GiB, model \+ optimiser"):
        memory.check_fits(config, 60000, torch.device("cpu"))
    assert memory.check_fits(make_config("full"), 60000, torch.device("cpu"))["activations"] > 0


def test_the_estimate_counts_sigregs_tables_and_infonces_logits():
    """Intermediates of functional ops count, not only layer outputs: SIGReg's cos and sin of t u over (2N, M, K)
    and InfoNCE's (2N, 2N) logits."""
    config = make_config("smoke", {"batch_size": "256", "sigreg_slices": "512", "train_subset": "1024"})
    tables = 2 * 256 * 512 * config.sigreg_knots * 4  # one float32 (2N, M, K) table
    logits = (2 * 256) ** 2 * 4
    parts = memory.estimate_bytes(config, 1024)
    fewer = memory.estimate_bytes(make_config("smoke", {"batch_size": "256", "sigreg_slices": "32",
                                                        "train_subset": "1024"}), 1024)
    assert parts["activations"] - fewer["activations"] >= 2 * tables * (1 - 32 / 512)  # cos and sin, at least
    assert fewer["activations"] > logits
