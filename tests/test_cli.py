import subprocess
import sys

import pytest

from isogen.cli import main


def test_train_sample_interpolate_from_the_command_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "smoke", "--run-dir", str(run), "--no-progress", "epochs=1"]) == 0
    assert main(["sample", str(run), "--sampler", "matched", "-n", "16"]) == 0
    assert (run / "samples-matched.png").stat().st_size > 1000
    assert main(["interpolate", str(run), "--pairs", "2", "--steps", "5", "--out", str(tmp_path / "i.png")]) == 0
    assert (tmp_path / "i.png").stat().st_size > 1000
    # the same command with --resume alone finds the run complete
    assert main(["train", "--resume", "--run-dir", str(run), "--no-progress"]) == 0
    assert "already trained" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["train", "--preset", "smoke", "--run-dir", "{tmp}/a", "method=simclr"], "valid methods:"),
    (["train", "--preset", "smoke", "--run-dir", "{tmp}/a", "lr=-1"], "bad config value: lr=-1.0"),
    (["train", "--preset", "nope", "--run-dir", "{tmp}/a"], "valid presets:"),
    (["sample", "{tmp}/missing"], "no checkpoint.pt"),
    (["train", "--preset", "smoke", "--run-dir", "{tmp}/a", "method=vae", "beta=7"],
     "beta does not apply to vae with decoder=deconv and samplers prior, matched: only beta-vae read it"),
    (["train", "--preset", "smoke", "--run-dir", "{tmp}/a", "method=infonce", "--sweep", "sigreg_weight=0.1,1"],
     "only sigreg-sphere, sigreg-gauss read it"),
])
def test_bad_input_gives_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("isogen: error:") and message in err and "\n" not in err
    assert not (tmp_path / "a").exists()


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "isogen", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "train" in out.stdout


WITHOUT_FLOW_MATCHING = """
import sys
class Hide:  # as on a machine where flow-matching was never installed
    def find_spec(self, name, path=None, target=None):
        if name == "flow_matching" or name.startswith("flow_matching."):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, Hide())
from isogen.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_every_command_but_a_flows_runs_without_flow_matching(tmp_path):
    def isogen(*argv):
        return subprocess.run([sys.executable, "-c", WITHOUT_FLOW_MATCHING, *argv], capture_output=True, text=True,
                              timeout=300)

    deconv = isogen("train", "--preset", "smoke", "--run-dir", str(tmp_path / "a"), "--no-progress", "epochs=1")
    assert deconv.returncode == 0, deconv.stderr
    flow = isogen("train", "--preset", "smoke-flow", "--run-dir", str(tmp_path / "b"), "--no-progress")
    assert flow.returncode == 2 and flow.stderr.strip().splitlines() == [
        "isogen: error: the flow decoder and the learned code sampler need the flow-matching package (No module "
        "named 'flow_matching'); pip install flow-matching"]
    assert not (tmp_path / "b").exists()


def test_samples_and_the_oracle_as_uint8_arrays(tmp_path):
    import numpy as np

    run = tmp_path / "run"
    assert main(["train", "--preset", "smoke", "--run-dir", str(run), "--no-progress", "epochs=1"]) == 0
    for sampler in ("prior", "oracle"):
        out = tmp_path / f"{sampler}.npz"
        assert main(["sample", str(run), "--sampler", sampler, "-n", "50", "--out", str(out)]) == 0
        with np.load(out) as saved:
            images = saved["images"]
            assert images.shape == (50, 28, 28) and images.dtype == np.uint8 and str(saved["sampler"]) == sampler
    assert 0 < images.mean() < 255 and images.max() > 100  # decoded digits, not a blank or saturated array
    assert main(["sample", str(run), "--sampler", "oracle", "-n", "5"]) == 2  # a picture of the oracle: say npz
