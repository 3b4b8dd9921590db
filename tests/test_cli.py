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
])
def test_bad_input_gives_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("isogen: error:") and message in err and "\n" not in err
    assert not (tmp_path / "a").exists()


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "isogen", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "train" in out.stdout
