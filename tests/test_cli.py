"""End to end through the CLI on the toy suite, and the errors a user meets."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import zsbench
from zsbench.harness.cli.app import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """One small toy-suite run shared by the tests below (60 test images per dataset)."""
    root = tmp_path_factory.mktemp("run")
    result = invoke("run", "--method", "clip,clip-e", "--suite", "toy", "--limit", "60", "--latency-images", "4",
                    "--results-dir", str(root / "results"), "--no-progress")
    assert result.exit_code == 0, result.output
    return root, result


def test_run_writes_parquet_that_pandas_reads(toy_run):
    root, result = toy_run
    files = list((root / "results").glob("run-*.parquet"))
    assert len(files) == 1
    df = zsbench.load_results(root / "results")
    assert len(df) == 12  # 2 methods x 6 toy datasets
    assert set(df["method"]) == {"clip", "clip-e"} and set(df["n_images"]) == {60}
    raw = pd.read_parquet(files[0])
    for col in ("acc1", "acc5", "mean_per_class_recall", "config_json", "latency_ms_per_image", "images_per_s",
                "device_name", "git_sha", "torch_version", "open_clip_version", "timestamp", "zsbench_version"):
        assert raw[col].notna().all(), col
    toy = df[df["dataset"] == "toy"].set_index("method")
    assert (toy["acc1"] > 3 * 100 / 12).all(), toy["acc1"]  # well above chance in distribution
    assert (df["latency_ms_per_image"] > 0).all() and (df["seconds_total"] > 0).all()
    assert "top-1 %" in result.output


def test_limited_runs_stay_off_the_leaderboard(toy_run):
    root, _ = toy_run
    assert "No results" in (root / "leaderboard.md").read_text()


def test_run_regenerates_leaderboard_and_check_passes(tmp_path):
    results = tmp_path / "results"
    res = invoke("run", "--method", "clip,clip-e", "--dataset", "toy-fine", "--latency-images", "4",
                 "--results-dir", str(results), "--no-progress")
    assert res.exit_code == 0, res.output
    board = tmp_path / "leaderboard.md"  # beside a folder named results/
    text = board.read_text()
    assert "| clip-e | toy-clip | committed | 0 |" in text and "shift avg" in text
    ok = invoke("leaderboard", "--results-dir", str(results), "--output", str(board), "--check")
    assert ok.exit_code == 0, ok.output
    board.write_text(text.replace("| clip-e |", "| clip-x |"))
    stale = invoke("leaderboard", "--results-dir", str(results), "--output", str(board), "--check")
    assert stale.exit_code == 1 and "-| clip-x |" in stale.output and "+| clip-e |" in stale.output
    invoke("leaderboard", "--results-dir", str(results), "--output", str(board))
    assert board.read_text() == text  # re-rendering gives the same bytes


def test_rerun_resumes_and_same_accuracies(toy_run):
    root, _ = toy_run
    before = zsbench.load_results(root / "results")
    again = invoke("run", "--method", "clip-e", "--dataset", "toy,toy-a", "--limit", "60", "--latency-images", "4",
                   "--results-dir", str(root / "results"), "--no-progress")
    assert again.exit_code == 0 and again.output.count("stored") == 2 and "new" not in again.output
    forced_dir = root / "forced"
    forced = invoke("run", "--method", "clip-e", "--dataset", "toy,toy-a", "--limit", "60", "--latency-images", "4",
                    "--results-dir", str(forced_dir), "--no-progress", "--force")
    assert forced.exit_code == 0
    after = zsbench.load_results(forced_dir).set_index("dataset")["acc1"]
    ref = before[(before["method"] == "clip-e") & before["dataset"].isin(["toy", "toy-a"])].set_index("dataset")["acc1"]
    assert after.sort_index().tolist() == ref.sort_index().tolist()  # deterministic


def test_results_command_lists_and_exports_csv(toy_run):
    root, _ = toy_run
    csv = invoke("results", "--results-dir", str(root / "results"), "--format", "csv")
    assert csv.exit_code == 0 and csv.output.splitlines()[0].startswith("method,model,pretrained,dataset")
    assert len(csv.output.strip().splitlines()) == 13


def test_foreign_parquet_is_named_and_other_runs_still_load(toy_run, tmp_path):
    root, _ = toy_run
    pd.DataFrame({"x": [1]}).to_parquet(root / "results" / "foreign.parquet")
    try:
        out = invoke("results", "--results-dir", str(root / "results"))
        assert "foreign.parquet" in out.output and "12 evaluations" in out.output
    finally:
        (root / "results" / "foreign.parquet").unlink()


def test_set_changes_config_hash_and_is_recorded(tmp_path):
    res = invoke("run", "--method", "clip", "--dataset", "toy", "--limit", "20", "--latency-images", "2",
                 "--set", "logit_scale=50", "--results-dir", str(tmp_path), "--no-progress")
    assert res.exit_code == 0, res.output
    row = zsbench.load_results(tmp_path).iloc[0]
    assert '"logit_scale": 50.0' in row["config_json"]


@pytest.mark.parametrize("args,message", [
    (["run", "--method", "nope", "--suite", "toy"], "unknown method 'nope'; valid methods: abs, clip, clip-d, clip-e"),
    (["run", "--method", "clip", "--suite", "nope"], "unknown suite 'nope'; valid suites:"),
    (["run", "--method", "clip", "--dataset", "toy,nope"], "unknown dataset 'nope'; valid datasets:"),
    (["run", "--method", "clip", "--suite", "toy", "--set", "top_k=3"], "none of the selected methods (clip) has a hyperparameter 'top_k'"),
    (["run", "--method", "clip", "--suite", "toy", "--model", "ViT-B-32", "--pretrained", "openai"], "--pretrained PATH"),
    (["run", "--method", "clip", "--suite", "toy", "--model", "ViT-B-32", "--pretrained", "missing.pt"], "no such checkpoint file"),
    (["list", "things"], "unknown listing 'things'"),
])
def test_user_errors_are_one_clear_line(args, message, tmp_path):
    res = runner.invoke(app, args + (["--results-dir", str(tmp_path)] if args[0] == "run" else []))
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_list_commands():
    for what, expect in (("methods", "clip-e"), ("datasets", "toy-sketch"), ("suites", "shift avg"), ("models", "ViT-B-16")):
        res = invoke("list", what)
        assert res.exit_code == 0 and expect in res.output


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("zsbench")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "leaderboard" in out.stdout


def test_missing_dataset_fails_before_model_work_with_the_fix(tmp_path, monkeypatch):
    from zsbench.harness.evaluation import runner as runner_module

    def no_model(*args, **kwargs):
        raise AssertionError("the model must not be loaded when a dataset is missing")

    monkeypatch.setattr(runner_module, "load_model", no_model)
    res = runner.invoke(app, ["run", "--method", "clip", "--dataset", "toy,dtd", "--data-root", str(tmp_path),
                              "--results-dir", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "dataset 'dtd' not found" in text and "Zhou split file" in text and str(tmp_path / "dtd") in text


def test_data_status_lists_every_real_dataset(tmp_path):
    res = invoke("data", "status", "--data-root", str(tmp_path))
    assert res.exit_code == 0
    for name in ("imagenet", "imagenet-a", "caltech101", "places365", "cub"):
        assert name in res.output


def test_bench_names_the_available_benchmarks():
    res = runner.invoke(app, ["bench", "--method", "nope"])
    assert res.exit_code == 2 and "no benchmark; available: abs" in res.output


def test_results_show_limit_and_classes_and_csv_has_no_float32_noise(toy_run):
    root, _ = toy_run
    table = runner.invoke(app, ["results", "--results-dir", str(root / "results")], env={"COLUMNS": "200"})
    header = next(line for line in table.output.splitlines() if "method" in line)
    assert "classes" in header and "limit" in header
    csv = invoke("results", "--results-dir", str(root / "results"), "--format", "csv")
    df = pd.read_csv(__import__("io").StringIO(csv.output), float_precision="round_trip")
    for _, row in df.iterrows():  # exactly 100 * k / n in float64, as printed (a float32 mean shows ...793823242)
        k = round(row["acc1"] * row["n_images"] / 100)
        assert row["acc1"] == 100 * k / row["n_images"], row["acc1"]
    assert set(df["limit"]) == {60} and set(df["classes"]) == {"all"}


def test_method_outputs_are_columns_under_one_prefix(tmp_path):
    res = invoke("run", "--method", "gda", "--dataset", "toy", "--shots", "1", "--seeds", "1", "--limit", "20",
                 "--latency-images", "0", "--results-dir", str(tmp_path), "--no-progress")
    assert res.exit_code == 0, res.output
    row = zsbench.load_results(tmp_path).iloc[0]
    assert {"out_gda_alpha", "out_gda_alpha_split", "out_gda_alpha_acc"} <= set(row.index)
    assert not {"gda_alpha", "subsample"} & set(row.index)
    assert row["out_gda_alpha_split"] == "fewshot-val" and row["n_train"] == 12  # 1 shot x 12 classes
    assert str(row["timestamp"].tz) == "UTC"
