"""A study through submitit (isogen.cluster): its local executor runs one task per run in processes of
their own, the same run folders and report as a local study come out, a failing run is recorded while the
other finishes, a second invocation skips what is done; without Slurm, --launcher submitit is one line."""
import json

from isogen.cli import main
from isogen.files import read_jsonl

SPEC = {"name": "tiny", "preset": "smoke", "overrides": {"epochs": 1, "train_subset": 512},
        "entries": [{"label": "sigreg-sphere", "method": "sigreg-sphere"},
                    {"label": "too-big", "method": "vae", "overrides": {"batch_size": 1024}}],
        "dims": [8], "seeds": [0],
        "eval": {"kid_samples": 0, "samples": 200, "pairs": 20, "null_draws": 5, "probe_train": 500, "views": 500,
                 "reconstructions": 500, "maps": False}}


def test_a_study_through_submitits_local_executor(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = tmp_path / "out"
    argv = ["study", str(spec), "--out", str(out), "--launcher", "submitit-local", "--gpus-per-task", "0"]
    assert main(argv) == 1  # one run failed
    printed = capsys.readouterr()
    assert "2 of 2 runs to do, one submitit-local task each" in printed.out
    assert (out / "runs" / "sigreg-sphere-d8-s0" / "metrics.json").exists()
    assert (out / "report" / "report.md").exists() and list((out / "submitit").glob("*_log.out"))
    failures = read_jsonl(out / "failures.jsonl")
    assert [f["name"] for f in failures] == ["too-big-d8-s0"]
    assert failures[0]["error"].startswith("bad config value: batch_size=1024 exceeds the 512 training images")
    assert [t["name"] for t in read_jsonl(out / "timings.jsonl")] == ["sigreg-sphere-d8-s0"]

    assert main(argv) == 1  # again: the finished run is skipped, only the failing one is tried
    assert "1 of 2 runs to do" in capsys.readouterr().out


def test_without_slurm_the_submitit_launcher_is_one_line(tmp_path, monkeypatch, capsys):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["study", "study-probe", "--out", str(tmp_path / "out"), "--launcher", "submitit"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("isogen: error: --launcher submitit needs Slurm, but sbatch is not on this machine; run the study "
                   "on the cluster's login node, or use --launcher local (submitit-local tries the path here)")
