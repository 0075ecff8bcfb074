"""Bad input: a corrupt image is named, Ctrl-C leaves nothing half-written, missing weights
offline give a clear message."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import zsbench
from zsbench.datasets.base import Dataset, FileSplit
from zsbench.datasets.errors import CorruptImageError
from zsbench.harness.cli.app import app
from zsbench.harness.models.loading import ModelLoadError, load_model
from zsbench.harness.core.registry import DATASETS
from zsbench.harness.evaluation.runner import RunSpec, Runner
from zsbench.methods.zero_shot import ZeroShotCLIP


@pytest.fixture
def tiny_files_dataset(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(good)
    bad = tmp_path / "truncated.jpg"
    Image.new("RGB", (64, 64)).save(tmp_path / "full.jpg")
    bad.write_bytes((tmp_path / "full.jpg").read_bytes()[:40])

    def build(data_root=None):
        split = FileSplit([good, bad, good], [0, 1, 0], fingerprint="tiny-1")
        return Dataset("tiny-files", ["circle", "ring"], ["a picture of a {}."], ["a picture of a {}."],
                       {"test": lambda: split}, source=f"local:{tmp_path}", default_model="toy-clip")

    DATASETS.register("tiny-files", build)
    yield bad
    DATASETS._items.pop("tiny-files")


def test_corrupt_image_error_names_the_file(tiny_files_dataset, tmp_path):
    with pytest.raises(CorruptImageError, match="truncated.jpg"):
        Runner(RunSpec(methods=["clip"], datasets=["tiny-files"], results_dir=tmp_path / "r", cache_dir=tmp_path / "c")).run()
    assert not list((tmp_path / "r").glob("*.parquet")) if (tmp_path / "r").exists() else True


@pytest.fixture
def interrupt_second_evaluation(monkeypatch):
    """Ctrl-C during the second evaluation's logits."""
    calls = {"n": 0}
    original = ZeroShotCLIP.logits_from_features

    def interrupt_second(self, features):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, features)

    monkeypatch.setattr(ZeroShotCLIP, "logits_from_features", interrupt_second)


def test_ctrl_c_leaves_finished_rows_and_no_partial_files(tmp_path, monkeypatch, interrupt_second_evaluation):
    spec = RunSpec(methods=["clip"], datasets=["toy", "toy-a"], limit=20, latency_images=0,
                   results_dir=tmp_path / "results", cache_dir=tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        Runner(spec).run()
    df = zsbench.load_results(tmp_path / "results")
    assert df["dataset"].tolist() == ["toy"]  # the finished evaluation is kept
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp")]
    assert leftovers == []
    monkeypatch.undo()
    Runner(spec).run()  # resuming evaluates only what is missing
    assert sorted(zsbench.load_results(tmp_path / "results")["dataset"]) == ["toy", "toy-a"]


def test_missing_weights_offline_say_what_to_do():
    with pytest.raises(ModelLoadError) as err:
        load_model("ViT-B-16", "openai", "cpu")
    text = str(err.value)
    assert "cannot be downloaded" in text and "--pretrained PATH" in text and "ViT-B-16" in text


def test_unknown_pretrained_tag_lists_tags():
    with pytest.raises(ModelLoadError, match="not a tag of 'ViT-B-32'.*openai"):
        load_model("ViT-B-32", "nonsense-tag", "cpu")


# ------------------------------------------------------------------------------------------------
# Every bad input: exit 2 and one line naming the flag or file and the fix, before any model work.

cli = CliRunner()
TOY_CLASSES = ["circle", "square", "triangle", "five-pointed star", "cross", "ring", "crescent", "heart", "arrow",
               "diamond", "semicircle", "bowtie"]


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if a model is loaded: every error below must come before any model work."""
    from zsbench.harness.evaluation import runner as runner_module

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the bad input was reported")

    monkeypatch.setattr(runner_module, "load_model", refuse)


def run_cli(tmp_path, *args: str, method: str = "clip", dataset: str = "toy"):
    argv = ["run", "--method", method, "--dataset", dataset, "--results-dir", str(tmp_path / "results"), "--no-progress",
            *args]
    return cli.invoke(app, argv)


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.mark.parametrize("args,method,message", [
    (["--limit", "0"], "clip", "--limit 0: must be at least 1"),
    (["--limit", "-1"], "clip", "--limit -1: must be at least 1"),
    (["--batch-size", "0"], "clip", "--batch-size 0: must be at least 1"),
    (["--batch-size", "-4"], "clip", "--batch-size -4: must be at least 1"),
    (["--workers", "-1"], "clip", "--workers -1: must be at least 0"),
    (["--batch-size", "big"], "clip", "--batch-size big: expected auto or an integer of at least 1"),
    (["--workers", "many"], "clip", "--workers many: expected auto or an integer of at least 0"),
    (["--precision", "bf16", "--device", "cpu"], "clip", "--precision bf16 runs as CUDA autocast"),
    (["--device", "tpu9"], "clip", "--device 'tpu9': choose auto, cpu, cuda or cuda:N"),
    (["--device", "cuda:0"], "clip", "cuda:0"),
    (["--precision", "fp16", "--device", "cpu"], "clip", "--precision fp16"),
    (["--seeds", ","], "clip", "--seeds: no seed given"),
    (["--seeds", "1,x"], "clip", "--seeds 1,x: expected comma-separated integers"),
    ([], ",", "--method: no method given"),
    ([], "clip-ee", "unknown method 'clip-ee' (did you mean clip-e?)"),
    (["--set", "logit_scal=3"], "clip", "(did you mean logit_scale?); theirs: logit_scale"),
    (["--set", "logit_scale=-1"], "clip", "--set logit_scale=-1 (method 'clip'): must be > 0"),
    (["--set", "logit_scale=0"], "clip", "--set logit_scale=0 (method 'clip'): must be > 0"),
    (["--set", "logit_scale=nan"], "clip", "--set logit_scale=nan (method 'clip'): nan is not a finite number"),
    (["--shots", "16", "--set", "augment_views=0"], "gda", "--set augment_views=0 (method 'gda'): must be >= 1"),
    (["--shots", "16", "--set", "augment_views=-2"], "gda", "--set augment_views=-2 (method 'gda'): must be >= 1"),
    (["--shots", "16", "--set", "alphas=,"], "gda", "--set alphas=, (method 'gda'): must not be empty"),
    (["--shots", "16", "--set", "alphas=1,-1"], "gda", "--set alphas=1,-1 (method 'gda'): must be >= 0"),
    (["--shots", "16", "--set", "max_epoch=-1"], "coop", "--set max_epoch=-1 (method 'coop'): must be >= 1"),
    (["--shots", "100000"], "gda", "--shots 100000"),
    (["--set", "frac_test=-1"], "zpe", "--set frac_test=-1 (method 'zpe'): must be > 0"),
    (["--set", "pool=nosuchpool"], "zpe", "--set pool=nosuchpool (method 'zpe'): 'nosuchpool' is not one of"),
    (["--set", "templates_file=/nonexistent.txt"], "zpe", "/nonexistent.txt"),
    (["--set", "debias=foo"], "zpe", "--set debias=foo (method 'zpe')"),
    (["--shots", "16", "--set", "subsample=bogus"], "coop", "--set subsample=bogus (method 'coop')"),
])
def test_bad_flags_fail_in_one_line_before_any_model_work(tmp_path, no_model, args, method, message):
    line = one_line_error(run_cli(tmp_path, *args, method=method))
    assert message in line, line


def test_results_dir_that_is_a_file_or_cannot_be_written(tmp_path, no_model):
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder")
    line = one_line_error(cli.invoke(app, ["run", "--method", "clip", "--dataset", "toy", "--results-dir", str(a_file)]))
    assert f"--results-dir {a_file} is a file, not a folder" in line
    if os.geteuid() == 0:  # root writes through read-only modes: use a folder no one can create
        unwritable = Path("/proc/self/zsbench-results")
    else:
        unwritable = tmp_path / "ro"
        unwritable.mkdir()
        unwritable.chmod(0o555)
    line = one_line_error(cli.invoke(app, ["run", "--method", "clip", "--dataset", "toy", "--results-dir", str(unwritable)]))
    assert f"--results-dir {unwritable} is not writable" in line


def test_bad_description_files_fail_before_the_model_and_brackets_survive(tmp_path, no_model):
    blank = tmp_path / "blank.json"
    blank.write_text(json.dumps({c: ["   ", ""] if c == "heart" else [f"a {c}"] for c in TOY_CLASSES}))
    line = one_line_error(run_cli(tmp_path, "--set", f"descriptions={blank}", method="cupl"))
    assert str(blank) in line and "'heart'" in line
    templates = tmp_path / "templates.json"
    templates.write_text(json.dumps(["a photo of a {}."]))
    line = one_line_error(run_cli(tmp_path, "--set", f"descriptions={templates}", method="clip-d"))
    assert "{classname: [sentence, ...]}" in line  # the terminal's markup must not eat the brackets
    broken = tmp_path / "broken.json"
    broken.write_text('{"circle": ["a round')
    line = one_line_error(run_cli(tmp_path, "--set", f"descriptions={broken}", method="cupl"))
    assert f"{broken} is not valid JSON" in line


def test_an_empty_test_split_is_an_error(tmp_path, no_model):
    empty = FileSplit([], [], fingerprint="empty-1")
    DATASETS.register("empty-set", lambda data_root=None: Dataset(
        "empty-set", ["circle"], ["a {}."], ["a {}."], {"test": lambda: empty}, source="local:nowhere", default_model="toy-clip"))
    try:
        line = one_line_error(run_cli(tmp_path, dataset="empty-set"))
    finally:
        DATASETS._items.pop("empty-set")
    assert "dataset 'empty-set': its test split (local:nowhere) has no images" in line


def test_bad_data_source_and_split_file_are_one_line(tmp_path, no_model, monkeypatch):
    monkeypatch.setenv("ZSBENCH_SOURCE", "bogus")
    line = one_line_error(run_cli(tmp_path, dataset="dtd"))
    assert "ZSBENCH_SOURCE" in line and "local" in line and "hub" in line
    monkeypatch.delenv("ZSBENCH_SOURCE")
    root = tmp_path / "data"
    (root / "dtd" / "images").mkdir(parents=True)
    (root / "dtd" / "split_zhou_DescribableTextures.json").write_text('{"train": [["a/1.jpg", 0, "banded"]], "val": [')
    line = one_line_error(run_cli(tmp_path, "--data-root", str(root), dataset="dtd"))
    assert "split_zhou_DescribableTextures.json" in line


def test_leaderboard_command_refuses_a_missing_results_dir(tmp_path):
    board = tmp_path / "leaderboard.md"
    board.write_text("the real one\n")
    res = cli.invoke(app, ["leaderboard", "--results-dir", str(tmp_path / "nonexistent"), "--output", str(board)])
    assert "--results-dir" in one_line_error(res) and board.read_text() == "the real one\n"
    results = tmp_path / "results"
    (results / "reference").mkdir(parents=True)
    (results / "reference" / "published.csv").write_text("method,backbone\nclip\n")
    line = one_line_error(cli.invoke(app, ["leaderboard", "--results-dir", str(results), "--output", str(board)]))
    assert "published.csv" in line and board.read_text() == "the real one\n"


def test_ctrl_c_during_a_run_exits_130_naming_what_was_kept(tmp_path, interrupt_second_evaluation):
    res = run_cli(tmp_path, "--limit", "20", "--latency-images", "0", dataset="toy,toy-a")
    assert res.exit_code == 130 and "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    run_file = next((tmp_path / "results").glob("run-*.parquet"))
    assert len(lines) == 1 and lines[0] == f"interrupted: the 1 evaluation(s) this run finished are kept in {run_file}; " \
                                           "run the same command again to resume"


def test_ctrl_c_during_startup_exits_130_with_one_line(monkeypatch, capsys):
    from zsbench.harness.cli import console

    class Interrupting:  # an import of the CLI that Ctrl-C stops
        def find_spec(self, name, path=None, target=None):
            if name == "zsbench.harness.cli.app":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "zsbench.harness.cli.app")
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    import zsbench.harness.cli as cli_pkg

    monkeypatch.delattr(cli_pkg, "app", raising=False)
    with pytest.raises(SystemExit) as exit_:
        console.main()
    assert exit_.value.code == 130
    assert capsys.readouterr().err == console.STARTUP


def test_real_sigint_at_any_moment_exits_130_without_a_traceback(tmp_path):
    exe = Path(sys.executable).with_name("zsbench")
    interrupted = []
    for delay in (0.3, 3.0, 6.0):  # during the imports; then loading, encoding or evaluating
        proc = subprocess.Popen([str(exe), "run", "--method", "clip-e", "--suite", "toy", "--no-progress",
                                 "--results-dir", str(tmp_path / f"r{delay}")], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "ZSBENCH_CACHE": str(tmp_path / "c")},
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, errors = proc.communicate(timeout=120)
        if proc.returncode == 0 and delay > 0.3:  # it finished before the signal: nothing to check at this delay
            continue
        interrupted.append(delay)
        assert proc.returncode == 130, (delay, errors)
        assert "Traceback" not in errors and "KeyboardInterrupt" not in errors, errors
        lines = [line for line in errors.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("interrupted: "), errors
    assert 0.3 in interrupted  # the imports alone take longer than that


def test_written_files_respect_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        res = run_cli(tmp_path, "--limit", "10", "--latency-images", "0")
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.output
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.suffix for p in written} >= {".parquet", ".md"}
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {"0o664"}, [(p, oct(p.stat().st_mode)) for p in written]
