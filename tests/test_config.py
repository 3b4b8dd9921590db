import pytest

from isogen.config import PRESETS, Config, make_config, parse_assignments
from isogen.errors import IsogenError


def test_presets_are_valid_diffs_over_the_defaults():
    defaults = Config().to_dict()
    for name, diff in PRESETS.items():
        assert set(diff) <= set(defaults), name
        assert all(defaults[k] != v for k, v in diff.items()), name  # a diff that restates a default is stale
        changed = {k for k, v in make_config(name).to_dict().items() if v != defaults[k]}
        assert changed == set(diff), name  # the preset changes exactly what it names


def test_overrides_are_typed_and_strict():
    config = make_config("quick", parse_assignments(["epochs=3", "lr=1e-4", "method=vae", "embed-dim=12"]))
    assert (config.epochs, config.lr, config.method, config.embed_dim) == (3, 1e-4, "vae", 12)
    with pytest.raises(IsogenError, match="unknown config key 'epoch'"):
        make_config("", {"epoch": "3"})
    with pytest.raises(IsogenError, match="needs a int"):
        make_config("", {"epochs": "three"})
    with pytest.raises(IsogenError, match="key=value"):
        parse_assignments(["epochs"])
    with pytest.raises(IsogenError, match="unknown preset 'fast'; valid presets: quick"):
        make_config("fast")


@pytest.mark.parametrize("key, value", [("sigreg_weight", "-1"), ("temperature", "0"), ("embed_dim", "2"),
                                        ("batch_size", "1"), ("sigreg_target", "cauchy"), ("dataset", "cifar"),
                                        ("scale_frac", "1.5"), ("precision", "fp8")])
def test_out_of_range_values_are_refused(key, value):
    with pytest.raises(IsogenError, match=f"bad config value: {key}"):
        make_config("", {key: value})


def test_config_round_trips_through_json_and_refuses_foreign_keys():
    config = make_config("quick")
    assert Config.from_dict(config.to_dict()) == config
    with pytest.raises(IsogenError, match="unknown keys"):
        Config.from_dict({**config.to_dict(), "beta1": 0.9})
