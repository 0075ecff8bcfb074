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


def test_limited_runs_get_their_own_table_not_the_ranking(toy_run):
    root, _ = toy_run
    text = (root / "leaderboard.md").read_text()
    assert "No full evaluations in `results/` yet; 12 `--limit` evaluation(s) are listed under Limited runs." in text
    assert "## Limited runs (`--limit`)" in text and "| clip-e | toy-clip | committed | 0 | all | toy-sketch | 60 | 1 |" in text


def test_a_run_ends_with_where_its_results_went(toy_run):
    root, result = toy_run
    (parquet,) = (root / "results").glob("run-*.parquet")
    text = " ".join(result.output.split())
    assert f"results: {parquet.absolute()} (12 new evaluation(s))" in text
    assert f"leaderboard: {(root / 'leaderboard.md').absolute()} (plots in {(root / 'results' / 'plots').absolute()})" in text


def test_leaderboard_help_says_where_a_non_default_results_dir_goes():
    res = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "250"})
    assert "else RESULTS_DIR/leaderboard.md" in " ".join(res.output.split())


def test_results_at_80_columns_never_cut_the_key_columns(toy_run):
    root, _ = toy_run
    res = runner.invoke(app, ["results", "--results-dir", str(root / "results")], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in res.output.splitlines() if line.startswith("│")]
    rows = [c for c in cells if c and c[0]]
    assert {r[0] for r in rows} == {"clip", "clip-e"}  # never "clip…" for both
    assert {r[3] for r in rows} == {"toy", "toy-v2", "toy-sketch", "toy-r", "toy-a", "toy-fine"}
    assert all(r[7] == "60" and r[6] == "all" for r in rows)  # limit and classes shown
    assert "…" not in res.output


def test_results_columns_and_formats(toy_run):
    root, _ = toy_run
    where = ["--results-dir", str(root / "results")]
    md = invoke("results", *where, "--format", "markdown", "--columns", "method,dataset,limit,acc1")
    lines = md.output.splitlines()
    assert lines[0] == "| method | dataset | limit | acc1 |" and lines[1] == "|---|---|---|---|" and len(lines) == 14
    js = invoke("results", *where, "--format", "json", "--columns", "method,dataset,acc1")
    records = __import__("json").loads(js.output)
    assert len(records) == 12 and set(records[0]) == {"method", "dataset", "acc1"}
    bad = runner.invoke(app, ["results", *where, "--columns", "method,nope"])
    assert bad.exit_code == 2 and "no column 'nope'" in bad.output
    bad = runner.invoke(app, ["results", *where, "--format", "xml"])
    assert bad.exit_code == 2 and "table, csv, json, markdown" in bad.output


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
    res = runner.invoke(app, ["data", "status", "--data-root", str(tmp_path)], env={"COLUMNS": "120"})
    assert res.exit_code == 0
    for name in ("imagenet", "imagenet-a", "caltech101", "places365", "cub"):
        assert name in res.output
    advice = [line for line in res.output.splitlines() if "datasets found under" in line]
    assert advice == [f"0 of 17 datasets found under {tmp_path}; `zsbench data status --verbose` says, per missing "
                      "dataset, what to download and where to put it"]
    assert "get it:" not in res.output and len(res.output.splitlines()) < 30
    verbose = runner.invoke(app, ["data", "status", "--data-root", str(tmp_path), "--verbose"], env={"COLUMNS": "120"})
    assert verbose.output.count("get it:") == 17
    url = "http://data.csail.mit.edu/places/places365/val_256.tar"
    assert url in verbose.output  # soft-wrapped: a URL is never cut mid-word


def test_data_status_without_a_data_root_says_so_once(monkeypatch):
    monkeypatch.delenv("ZSBENCH_DATA", raising=False)
    res = runner.invoke(app, ["data", "status"], env={"COLUMNS": "120"})
    assert res.exit_code == 0
    assert res.output.count("no data root is set") == 1


def test_list_datasets_shows_classes_test_size_family_and_whether_here(tmp_path):
    res = runner.invoke(app, ["list", "datasets", "--data-root", str(tmp_path)], env={"COLUMNS": "120"})
    rows = {c[0]: c for c in ([x.strip() for x in line.split("│")[1:-1]] for line in res.output.splitlines()
                              if line.startswith("│"))}
    assert rows["toy"] == ["toy", "12", "600", "imagenet", "generated"]
    assert rows["toy-fine"] == ["toy-fine", "5", "250", "-", "generated"]
    assert rows["imagenet"] == ["imagenet", "1000", "50000", "imagenet", "no"]  # as published, until it is here
    assert rows["dtd"] == ["dtd", "47", "1692", "-", "no"]
    only = runner.invoke(app, ["list", "datasets", "--name", "toy-*"], env={"COLUMNS": "120"})
    names = [line.split("│")[1].strip() for line in only.output.splitlines() if line.startswith("│")]
    assert names == ["toy-a", "toy-fine", "toy-r", "toy-sketch", "toy-v2"]


def test_list_datasets_reads_the_sizes_of_a_dataset_that_is_here(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("local_layouts_tests", Path(__file__).parent / "test_datasets_local.py")
    local = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(local)
    dtd = next(case for case in local.ZHOU_CASES if case[0] == "dtd")
    split = local.make_zhou(tmp_path, dtd)  # 2 classes, a few images per split
    res = runner.invoke(app, ["list", "datasets", "--data-root", str(tmp_path), "--name", "dtd"], env={"COLUMNS": "120"})
    row = next([x.strip() for x in line.split("│")[1:-1]] for line in res.output.splitlines() if line.startswith("│"))
    assert row == ["dtd", "2", str(len(split["test"])), "-", "yes"]


def test_every_real_dataset_has_its_published_size():
    from zsbench.datasets.records import PUBLISHED_SIZES, RECORDS

    assert set(PUBLISHED_SIZES) == set(RECORDS)
    assert all(classes > 1 and images > classes for classes, images in PUBLISHED_SIZES.values())


def _fake_hf_cache(root, repo: str, filename: str) -> None:
    """The Hugging Face cache layout: models--ORG--REPO/{refs/main, snapshots/<commit>/<file>}."""
    folder = root / ("models--" + repo.replace("/", "--"))
    commit = "0" * 40
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    (folder / "snapshots" / commit).mkdir(parents=True)
    (folder / "snapshots" / commit / filename).write_bytes(b"weights")


def test_list_models_marks_cached_weights_and_filters(tmp_path, monkeypatch):
    import open_clip

    from zsbench.harness.models import loading

    repo = open_clip.get_pretrained_cfg("ViT-B-16", "openai")["hf_hub"].rstrip("/")  # "timm/...openai/": no file name
    assert not loading.cached_pretrained("ViT-B-16", "openai", hf_cache=tmp_path)
    _fake_hf_cache(tmp_path, repo, "open_clip_model.safetensors")
    assert loading.cached_pretrained("ViT-B-16", "openai", hf_cache=tmp_path)
    assert not loading.cached_pretrained("ViT-B-16", "laion2b_s34b_b88k", hf_cache=tmp_path)
    real = loading.cached_pretrained
    monkeypatch.setattr(loading, "cached_pretrained", lambda m, t: real(m, t, hf_cache=tmp_path, url_cache=tmp_path))
    res = runner.invoke(app, ["list", "models", "--name", "ViT-B-16", "--cached"], env={"COLUMNS": "200"})
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in res.output.splitlines() if line.startswith("│")]
    assert rows == [["ViT-B-16", "openai*"], ["ViT-B-16-quickgelu", "openai*"]]  # the same file on the Hub
    res = runner.invoke(app, ["list", "models", "--name", "ViT-B-16"], env={"COLUMNS": "200"})
    assert "openai*" in res.output and "laion2b_s34b_b88k," in res.output and "RN50" not in res.output


def test_an_uncached_tag_shows_only_our_message_not_open_clips_log_line(monkeypatch, caplog):
    import logging

    import open_clip

    from zsbench.harness.core.errors import UserError
    from zsbench.harness.models import loading

    def offline(*args, **kwargs):
        logging.error("Failed to download weights for tag 'openai': offline")
        raise RuntimeError("Failed to download weights for tag 'openai': LocalEntryNotFoundError offline")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", offline)
    with caplog.at_level(logging.ERROR), pytest.raises(UserError, match="not in the local Hugging Face cache"):
        loading._create("ViT-B-16", "openai", loading._offline_hint("ViT-B-16", "openai"))
    assert not [r for r in caplog.records if "Failed to download" in r.getMessage()]
    logging.error("Failed to download something else")  # the filter is gone afterwards
    assert [r for r in caplog.records if "Failed to download" in r.getMessage()]


class RecordingReporter:
    """A reporter that records what a run tells it (the rich one is tested in test_progress)."""

    def __init__(self):
        self.events = []
        self._step = ""

    def task(self, description, total):
        self.events.append(("task", f"{self._step}: {description}" if self._step else description, total))
        return lambda n=1, status=None: self.events.append(("advance", description, n, status))

    __call__ = task

    def overall(self, total):
        self.events.append(("overall", total))

    def evaluation_done(self, what):
        self.events.append(("done", what))

    def step(self, label):
        import contextlib

        @contextlib.contextmanager
        def inside():
            previous, self._step = self._step, label
            yield
            self._step = previous

        return inside()

    def log(self, message):
        self.events.append(("log", message))


def test_run_progress_names_each_step_counts_evaluations_and_reports_stored_accuracy(tmp_path):
    from zsbench.harness.evaluation.runner import RunSpec, Runner

    spec = dict(methods=["gda"], datasets=["toy"], shots=1, seeds=(1,), limit=20, latency_images=0,
                results_dir=tmp_path / "r", cache_dir=tmp_path / "cache")
    first = RecordingReporter()
    Runner(RunSpec(**spec), reporter=first).run()
    assert ("overall", 1) in first.events and ("done", "gda / toy / seed 1") in first.events
    tasks = [e[1] for e in first.events if e[0] == "task"]
    assert "gda / toy / seed 1: GDA fit" in tasks
    statuses = [e[3] for e in first.events if e[0] == "advance" and e[1] == "GDA fit" and e[3]]
    assert statuses[0].startswith("encoding 10 augmented views") and any("alpha" in s for s in statuses)
    assert any(e[0] == "log" and e[1].startswith("loading model toy-clip") for e in first.events)
    again = RecordingReporter()
    Runner(RunSpec(**spec), reporter=again).run()
    stored = zsbench.load_results(tmp_path / "r").iloc[0]["acc1"]
    logs = [e[1] for e in again.events if e[0] == "log"]
    assert logs == [f"skip gda / toy / seed 1: stored top-1 {stored:.2f} % in {tmp_path / 'r'} (use --force to re-run)"]
    assert ("done", "gda / toy / seed 1") in again.events


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
