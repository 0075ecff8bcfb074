"""``zsbench sweep`` (issue 13): the local executor's two phases equal the serial run, a sweep
killed half way and submitted again does only what is missing, and the Slurm path submits the
arrays and dependencies it should (checked against a stand-in ``sbatch``, since CI has no Slurm)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import zsbench
from zsbench.harness.cli.app import app
from zsbench.harness.core.claims import ClaimBoard
from zsbench.harness.core.errors import RunError
from zsbench.harness.evaluation.runner import Runner, RunSpec
from zsbench.harness.results.leaderboard import render_results
from zsbench.harness.scaleout import sweep as sweeps
from zsbench.harness.scaleout.units import ENCODE, EVALUATE

SELECTION = dict(methods=["clip", "waffle"], datasets=["toy", "toy-v2"], seeds=(1, 2), limit=40, latency_images=0)


def selection(tmp_path, name: str) -> RunSpec:
    return RunSpec(results_dir=tmp_path / name / "results", cache_dir=tmp_path / name / "cache", **SELECTION)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serial")
    runner = Runner(selection(tmp, "serial"))
    runner.run()
    df = zsbench.load_results(tmp / "serial" / "results")
    return {"acc": dict(zip(df["eval_id"], df["acc1"])), "cache_misses": runner.cache.misses}


def stored(results_dir) -> dict:
    df = zsbench.load_results(results_dir, latest_only=False)
    assert not df["eval_id"].duplicated().any(), "an evaluation was computed twice"
    return dict(zip(df["eval_id"], df["acc1"]))


def test_a_local_sweep_is_the_serial_run(tmp_path, serial):
    spec = selection(tmp_path, "sweep")
    done = sweeps.submit(spec, "local", jobs=2, needs_images=True, encode_units=2, threads=1, log=lambda m: None)
    assert stored(spec.results_dir) == serial["acc"] and len(serial["acc"]) == 6  # clip x 2 + waffle x 2 x 2
    reports = done.reports
    assert [r["shard"] for r in reports[ENCODE]] == ["1/2", "2/2"] == [r["shard"] for r in reports[EVALUATE]]
    assert all(r["new"] == [] for r in reports[ENCODE])
    assert sum(len(r["new"]) for r in reports[EVALUATE]) == 6
    # every feature entry (two test splits' images, the prompts) computed by exactly one task
    assert sum(r["cache_misses"] for p in reports.values() for r in p) == serial["cache_misses"]
    assert sum(r["cache_misses"] for r in reports[ENCODE]) == 2
    assert len({r["pid"] for p in reports.values() for r in p}) == 4  # each task its own process
    assert done.leaderboard == (tmp_path / "sweep" / "leaderboard.md").resolve()
    assert done.leaderboard.read_text() == render_results(spec.results_dir)  # rendered once, at the end
    rows = zsbench.load_results(spec.results_dir)
    assert set(rows["shard"]) <= {"1/2", "2/2"} and rows["host"].notna().all()


def test_a_sweep_killed_half_way_and_submitted_again_does_only_what_is_missing(tmp_path, serial):
    spec = sweeps.absolute(selection(tmp_path, "sweep"))
    for task in sweeps.task_specs(spec, ENCODE, 2) + sweeps.task_specs(spec, EVALUATE, 2)[:1]:
        sweeps.run_shard(task)  # the encode array and half the evaluate array finished, then the sweep was killed
    finished = stored(spec.results_dir)
    assert 0 < len(finished) < len(serial["acc"])
    missing = sorted(set(serial["acc"]) - set(finished))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claim = ClaimBoard(spec.results_dir / ".claims").path(EVALUATE, missing[0])  # the killed task's claim
    claim.parent.mkdir(parents=True, exist_ok=True)
    claim.write_text(json.dumps({"host": os.uname().nodename, "pid": dead.pid, "token": "killed"}))
    cache_files = {p: p.stat().st_mtime_ns for p in Path(spec.cache_dir).rglob("*.pt")}

    again = sweeps.submit(spec, "local", jobs=2, needs_images=True, encode_units=2, threads=1, log=lambda m: None)
    assert sorted(e for r in again.reports[EVALUATE] for e in r["new"]) == missing
    assert sum(r["cache_misses"] for r in again.reports[ENCODE]) == 0  # the features were all cached
    assert all(p.stat().st_mtime_ns == t for p, t in cache_files.items())
    assert stored(spec.results_dir) == serial["acc"]
    assert not claim.exists()


FAKE_SBATCH = """#!/bin/sh
# stands in for Slurm's sbatch: keeps the script it was given and answers as sbatch does
n=$(ls "$SBATCH_RECORD" | wc -l)
cp "$1" "$SBATCH_RECORD/submission-$n.sh"
echo "Submitted batch job $((101 + n))"
"""


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    bin_dir, record = tmp_path / "bin", tmp_path / "sbatch-record"
    bin_dir.mkdir()
    record.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")  # submitit looks for it; never run here
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SBATCH_RECORD", str(record))
    return lambda: [(record / f"submission-{i}.sh").read_text() for i in range(len(list(record.iterdir())))]


def test_the_slurm_path_submits_two_arrays_and_a_leaderboard_job_chained_by_afterok(tmp_path, fake_slurm):
    config = tmp_path / "resources.json"
    config.write_text(json.dumps({"encode": {"gpus": 1, "cpus": 8, "mem_gb": 32, "time_min": 120},
                                  "evaluate": {"cpus": 4, "slurm": {"account": "vision-lab"}},
                                  "leaderboard": {"partition": "cpu"}}))
    resources = sweeps.load_resources(config, partition="gpu", parallelism=3)
    spec = selection(tmp_path, "sweep")
    done = sweeps.submit(spec, "slurm", jobs=4, folder=tmp_path / "logs", resources=resources, needs_images=True,
                         encode_units=2, log=lambda m: None)
    encode, evaluate, board = fake_slurm()
    assert "#SBATCH --array=0-1%2" in encode  # 2 encode tasks: at most one per (model, dataset)
    for flag in ("--partition=gpu", "--time=120", "--gpus-per-node=1", "--cpus-per-task=8", "--mem=32GB",
                 "--job-name=zsbench-encode"):
        assert f"#SBATCH {flag}\n" in encode
    assert "--dependency" not in encode
    assert "#SBATCH --array=0-3%3" in evaluate
    for flag in ("--dependency=afterok:101", "--partition=gpu", "--cpus-per-task=4", "--account=vision-lab",
                 "--time=60"):
        assert f"#SBATCH {flag}\n" in evaluate
    assert "--gpus-per-node" not in evaluate
    assert "#SBATCH --dependency=afterok:102\n" in board and "#SBATCH --partition=cpu\n" in board
    assert "#SBATCH --cpus-per-task=1\n" in board and "--array" not in board
    assert [done.array_id(p) for p in (ENCODE, EVALUATE)] == ["101", "102"]
    # what each array task will run: its shard of its phase, never the leaderboard
    tasks = [job.submission() for job in done.jobs[ENCODE] + done.jobs[EVALUATE]]
    assert all(t.function is sweeps.run_shard for t in tasks)
    assert [(t.args[0].phase, t.args[0].shard) for t in tasks] == \
        [(ENCODE, "1/2"), (ENCODE, "2/2")] + [(EVALUATE, f"{i}/4") for i in range(1, 5)]
    assert not any(t.args[0].write_leaderboard for t in tasks)
    assert all(t.args[0].results_dir.is_absolute() and t.args[0].cache_dir.is_absolute() for t in tasks)
    leaderboard = done.jobs["leaderboard"][0].submission()
    assert leaderboard.function is sweeps.render_leaderboard
    assert not (tmp_path / "sweep" / "results").exists()  # nothing ran here


def test_a_zero_shot_only_sweep_without_features_skips_the_encode_array(tmp_path, fake_slurm):
    sweeps.submit(selection(tmp_path, "s"), "slurm", jobs=2, needs_images=False, log=lambda m: None)
    evaluate, board = fake_slurm()
    assert "#SBATCH --array=0-1%2" in evaluate and "--dependency" not in evaluate
    assert "#SBATCH --dependency=afterok:101\n" in board


def test_the_sweep_command_submits_to_slurm_and_says_where(tmp_path, fake_slurm, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["sweep", "--method", "clip,clip-e", "--suite", "toy", "--executor", "slurm",
                                   "--jobs", "3", "--partition", "a100", "--gpus", "1", "--time", "30"])
    assert res.exit_code == 0, res.output
    encode, evaluate, board = fake_slurm()
    assert "#SBATCH --array=0-2%3" in encode and "#SBATCH --gpus-per-node=1\n" in encode
    assert "#SBATCH --partition=a100\n" in evaluate and "#SBATCH --time=30\n" in evaluate
    assert "submitted to Slurm" in res.output and str((tmp_path / "leaderboard.md").resolve()) in res.output.replace("\n", "")


@pytest.mark.parametrize("config, flags, message", [
    ("{not json", {}, "not valid JSON"),
    ('{"train": {}}', {}, "sections among encode, evaluate, leaderboard"),
    ('{"encode": {"gpu": 1}}', {}, "encode.gpu: unknown resource setting"),
    ('{"evaluate": {"time_min": "1h"}}', {}, "evaluate.time_min = '1h': expected int"),
    (None, {"gpus": -1}, "flag --gpus = -1: out of range"),
    (None, {"time_min": 0}, "flag --time_min = 0: out of range"),
])
def test_bad_resources_name_the_file_or_flag(tmp_path, config, flags, message):
    path = None
    if config is not None:
        path = tmp_path / "resources.json"
        path.write_text(config)
    with pytest.raises(RunError, match=message):
        sweeps.load_resources(path, **flags)


def test_the_flags_override_the_file_for_the_encode_and_evaluate_phases_only(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"encode": {"gpus": 2, "cpus": 16}, "leaderboard": {"time_min": 5}}')
    r = sweeps.load_resources(path, gpus=1, mem_gb=8.0)
    assert (r[ENCODE].gpus, r[ENCODE].cpus, r[ENCODE].mem_gb) == (1, 16, 8.0)
    assert (r[EVALUATE].gpus, r[EVALUATE].cpus, r[EVALUATE].mem_gb) == (1, None, 8.0)
    assert (r["leaderboard"].gpus, r["leaderboard"].time_min, r["leaderboard"].cpus) == (0, 5, 1)


@pytest.mark.parametrize("args, message", [
    (["--executor", "kubernetes"], "--executor kubernetes"),
    (["--jobs", "0"], "--jobs 0"),
    (["--method", "nope"], "nope"),
])
def test_bad_sweep_flags_fail_before_anything_is_submitted(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    base = ["sweep", "--method", "clip", "--dataset", "toy"]
    res = CliRunner().invoke(app, base + args if args[0] != "--method" else ["sweep", *args, "--dataset", "toy"])
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "results").exists()
