"""Several runs on one device: interleaved training equals separate training, a failing run does not
stop the others, the concurrency follows the free memory, the plan measures before it estimates."""
import json

import pytest
import torch

import isogen.memory as memory
from isogen.cli import main
from isogen.config import make_config
from isogen.files import read_jsonl
from isogen.launcher import Job, choose_concurrency, study_concurrency, study_launcher
from isogen.processes import train_in_processes
from isogen.runner import run_study
from isogen.runs import load_checkpoint
from isogen.study import StudySpec
from isogen.train import train

TIMING = {"seconds", "images_per_s"}
TINY_EVAL = {"kid_samples": 0, "samples": 100, "pairs": 10, "null_draws": 5, "probe_train": 300, "views": 500,
             "reconstructions": 500, "prdc_samples": 100,
             "maps": False}


def without_timing(log):
    return [{k: v for k, v in record.items() if k not in TIMING} for record in log]


def test_a_sweep_trained_two_at_a_time_equals_each_run_trained_alone(tmp_path, mnist):
    # bit for bit is the CPU's promise (CUDA's bf16 and cuDNN kernels may differ between two runs)
    base = ["--preset", "smoke", "--no-progress", "epochs=2", "train_subset=512", "method=vae", "device=cpu"]
    assert main(["train", *base, "--run-dir", str(tmp_path / "sweep"), "--sweep", "seed=0,1", "--sweep",
                 "batch_size=64,128", "--concurrent", "2"]) == 0
    names = sorted(p.name for p in (tmp_path / "sweep").iterdir())
    assert names == ["seed0-batch_size128", "seed0-batch_size64", "seed1-batch_size128", "seed1-batch_size64"]
    for name, seed, batch in [("seed1-batch_size64", 1, 64), ("seed0-batch_size128", 0, 128)]:
        config = make_config("smoke", {"epochs": "2", "train_subset": "512", "method": "vae", "seed": str(seed),
                                       "batch_size": str(batch), "device": "cpu"})
        train(config, tmp_path / "alone" / name, progress=False, data=mnist, pictures=False)
        a, b = load_checkpoint(tmp_path / "sweep" / name), load_checkpoint(tmp_path / "alone" / name)
        assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"]), name
        assert without_timing(a["log"]) == without_timing(b["log"]), name


def test_one_runs_nan_among_several_is_recorded_and_the_others_finish(tmp_path, mnist, poison_infonce, capsys):
    poison_infonce(3, float("nan"))  # sigreg-sphere's InfoNCE goes NaN in its first epoch; the VAE has none
    spec = StudySpec.from_dict({"name": "nan", "preset": "smoke", "overrides": {"epochs": 2, "train_subset": 512},
                                "entries": [{"label": "sigreg", "method": "sigreg-sphere"},
                                            {"label": "vae", "method": "vae"}],
                                "dims": [8], "eval": TINY_EVAL}, "nan").validate()
    failures = run_study(spec, tmp_path, concurrent=2, eval_workers=1, launcher="local", progress=False)  # interleaved
    assert list(failures) == ["sigreg-d8-s0"], failures  # the message says why another failed (CUDA, 2026-12-04)
    assert "non-finite loss: term 'infonce' = nan at step 3" in failures["sigreg-d8-s0"]
    said = capsys.readouterr().out  # each outcome is said as it comes: a killed study writes no records
    assert f"sigreg-d8-s0: failed: {failures['sigreg-d8-s0']}\n" in said and "vae-d8-s0: done (" in said
    for name in ("metrics.json", "samples.png", "interpolations.png", "figures/spectrum.png"):
        assert (tmp_path / "runs" / "vae-d8-s0" / name).exists(), name  # pictures drawn by the evaluation
    assert not (tmp_path / "runs" / "sigreg-d8-s0" / "checkpoint.pt").exists()  # nothing past the bad step
    assert read_jsonl(tmp_path / "failures.jsonl") == [{"name": "sigreg-d8-s0", "error": failures["sigreg-d8-s0"]}]
    assert read_jsonl(tmp_path / "sessions.jsonl")[-1]["failed"] == 1


def test_in_worker_processes_a_failed_run_fails_the_runs_that_decode_its_encoder(tmp_path):
    blocker = tmp_path / "a-file"  # a run folder that cannot be made: the run fails in its worker
    blocker.write_text("")
    config = make_config("smoke", {"epochs": "1", "train_subset": "512", "method": "vae", "device": "cpu"})
    jobs = [Job("a", config, blocker / "a"), Job("b", config, tmp_path / "b", needs=blocker / "a")]
    done: list[tuple[str, str]] = []
    train_in_processes(jobs, 2, "cpu", lambda name, error: done.append((name, str(error))), progress=False)
    assert [name for name, _ in done] == ["a", "b"] and "the run whose encoder it decodes (a) failed" in done[1][1]
    assert not (tmp_path / "b").exists()  # never started


def test_concurrency_follows_the_free_memory(monkeypatch):
    jobs = [Job(str(i), make_config("full"), None) for i in range(40)]
    assert choose_concurrency(jobs, torch.device("cpu")) == 1
    cpu = torch.device("cpu")
    assert study_launcher("auto", cpu) == "processes" and study_launcher("auto", torch.device("cuda")) == "local"
    assert study_concurrency(jobs, cpu, "processes") == min(2, torch.get_num_threads())  # a core or more each
    cuda = torch.device("cuda")  # only its type is read
    largest = sum(memory.estimate_bytes(jobs[0].config, 60000).values())
    monkeypatch.setattr("isogen.launcher.free_bytes", lambda device: 80 * 2**30)
    assert choose_concurrency(jobs, cuda) == 16  # capped: one host thread feeds at most 16 streams
    monkeypatch.setattr("isogen.launcher.free_bytes", lambda device: int(10 * largest))
    assert choose_concurrency(jobs, cuda) == 4  # 0.8 x free / (2 x largest)
    assert choose_concurrency(jobs[:2], cuda) == 2


def test_machine_busy_is_the_share_of_cpu_time_not_idle(tmp_path, monkeypatch):
    import isogen.plan as plan_module

    stat = tmp_path / "stat"  # /proc/stat's first line: user nice system idle iowait ... (ticks since boot)
    snapshots = iter(["cpu 100 0 100 790 10 0 0 0 0 0\n", "cpu 190 0 100 800 10 0 0 0 0 0\n",  # 90 of 100 used
                      "cpu 190 0 100 800 10 0 0 0 0 0\n", "cpu 200 0 100 880 20 0 0 0 0 0\n"])  # 10 of 100
    stat.write_text(next(snapshots))
    monkeypatch.setattr(plan_module, "PROC_STAT", stat)
    monkeypatch.setattr(plan_module.time, "sleep", lambda seconds: stat.write_text(next(snapshots)))
    assert plan_module.machine_busy(torch.device("cpu")) == "the machine is busy (its cores 90% in use)"
    stat.write_text(next(snapshots))
    assert plan_module.machine_busy(torch.device("cpu")) == ""
    assert plan_module.machine_busy(torch.device("cuda")) == ""  # a GPU's plan does not ask


def test_cpu_name_tells_hosts_of_one_name_apart(tmp_path, monkeypatch):
    import isogen.runs as runs_module

    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(runs_module, "CPUINFO", cpuinfo)
    for flags, name in (("fpu sse2 avx avx2 fma", "AMD EPYC (AVX2)"), ("avx2 avx512f avx512bw", "AMD EPYC (AVX-512)"),
                        ("fpu sse2", "AMD EPYC")):
        cpuinfo.write_text(f"processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: {flags}\n\n"
                           "processor\t: 1\nmodel name\t: other\nflags\t\t: avx512f\n")
        assert runs_module.cpu_name() == name


def test_plan_times_each_step_shape_once_and_reads_the_cache_after(tmp_path, capsys, monkeypatch):
    import isogen.plan as plan_module

    monkeypatch.setenv("ISOGEN_CACHE", str(tmp_path / "cache"))
    spec = {"name": "tiny-plan", "preset": "smoke", "overrides": {"epochs": 1, "train_subset": 512},
            "entries": [{"label": "sigreg", "method": "sigreg-sphere"}, {"label": "vae", "method": "vae"},
                        {"label": "flow", "method": "infonce", "overrides": {"decoder": "flow", "flow_steps": 2,
                                                                             "decoder_epochs": 1}}],
            "dims": [8], "seeds": [0, 1], "eval": TINY_EVAL}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    command = ["study", str(tmp_path / "spec.json"), "--plan", "--out", str(tmp_path / "out"), "--device", "cpu",
               "--launcher", "local"]
    monkeypatch.setattr(plan_module, "machine_busy", lambda device: "the machine is busy (its cores 90% in use)")
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "warning: the machine is busy (its cores 90% in use); steps timed now are slower" in out
    assert "tiny-plan: 6 runs, 6 to do; 1 at a time on cpu" in out and "estimate: training" in out
    # each shape timed once: sigreg's and vae's encoder stages, infonce's encoder alone and its flow decoder's
    # stage, and the flow decoder's sampling (counted for both of its runs)
    assert out.count("encoder step ('sigreg-sphere'") == 1 and out.count("decoder step ('flow'") == 1
    assert out.count("decode ('flow', 16, 8, 2, 'midpoint', 1.0)") == 1
    assert out.count("sampler ('prior', 'sphere', 8, 100)") == 1  # fitted and drawn at the evaluation's n
    monkeypatch.setattr(plan_module, "seconds_per_round", lambda *a, **k: pytest.fail("measured again"))
    assert main(command) == 0  # the same estimate, from the cache: nothing timed, so nothing to warn of
    assert capsys.readouterr().out == "".join(line for line in out.splitlines(keepends=True) if "warning" not in line)
    assert not (tmp_path / "out").exists()  # a plan trains and writes nothing
    # a CPU's launcher: runs at once in worker processes, their speed-up timed together in two processes
    monkeypatch.undo()
    monkeypatch.setenv("ISOGEN_CACHE", str(tmp_path / "cache"))
    assert main([*command[:-2], "--concurrent", "2"]) == 0  # the default launcher; 2 whatever this worker's threads
    out = capsys.readouterr().out
    assert "6 to do; 2 at a time on cpu" in out and "2 runs at once in worker processes: " in out
    assert out.count("2 processes, encoder step ('sigreg-sphere'") == 1


def test_a_cuda_error_that_breaks_the_process_stops_the_study_with_one_message(tmp_path, monkeypatch, capsys):
    import isogen.train as train_module

    def device_assert(self):
        raise RuntimeError("CUDA error: device-side assert triggered\nCompile with TORCH_USE_CUDA_DSA ...")

    monkeypatch.setattr(train_module.Run, "step", device_assert)
    spec = {"name": "sticky", "preset": "smoke", "overrides": {"epochs": 1, "train_subset": 512},
            "entries": [{"label": "a", "method": "vae"}, {"label": "b", "method": "ae-gmm"}], "dims": [8],
            "eval": TINY_EVAL}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert main(["study", str(tmp_path / "spec.json"), "--out", str(tmp_path / "out"), "--device", "cpu",
                 "--launcher", "local", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a CUDA error that stays with the process stopped the study at a-d8-s0" in err[0]
    assert [f["name"] for f in read_jsonl(tmp_path / "out" / "failures.jsonl")] == ["a-d8-s0"]  # b never started
    assert not (tmp_path / "out" / "runs" / "b-d8-s0").exists()


def test_a_dead_evaluation_worker_is_recorded_and_the_next_run_is_evaluated(tmp_path, monkeypatch):
    import isogen.launcher as launcher

    done = []
    evaluations = launcher.Evaluations("cpu", 1, {}, lambda name, error: done.append((name, error)))
    dying, fine = Job("dies", make_config("smoke"), tmp_path / "a"), Job("lives", make_config("smoke"), tmp_path / "b")
    monkeypatch.setattr(launcher, "evaluate", _exit_in_worker)
    evaluations.submit(dying)
    evaluations.collect(wait=True)
    evaluations.submit(fine)  # the broken pool is replaced
    evaluations.close()
    assert [name for name, _ in done] == ["dies", "lives"]
    assert "evaluation worker process died" in str(done[0][1]) and done[1][1] is None


def _exit_in_worker(job, device):
    import os

    if job.name == "dies":
        os._exit(1)
