"""`zsbench compare`: paired differences on the same images, seeds paired, McNemar's p-value."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import zsbench
from zsbench.harness.cli.app import app
from zsbench.harness.metrics.significance import mcnemar_exact

cli = CliRunner()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp") / "results"
    res = cli.invoke(app, ["run", "--method", "clip,clip-e,waffle", "--dataset", "toy", "--seeds", "1,2", "--limit", "120",
                           "--latency-images", "0", "--results-dir", str(root), "--no-progress"])
    assert res.exit_code == 0, res.output
    return root


def _correct(results, **filters):
    return zsbench.load_predictions(results, limit=120, **filters).set_index("image_id")["correct"]


def test_two_deterministic_methods_one_row_per_pair_and_the_mean(results):
    df = zsbench.compare("clip", "clip-e", "toy", results, limit=120)
    assert df["seed_a"].tolist() == ["0", "mean"] and df["n_images"].tolist() == [120, 120]
    a, b = _correct(results, method="clip"), _correct(results, method="clip-e").reindex(_correct(results, method="clip").index)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    row = df.iloc[0]
    assert (row["only_a"], row["only_b"]) == (only_a, only_b)
    assert row["diff"] == pytest.approx(100 * (a.mean() - b.mean()))
    assert row["p_value"] == pytest.approx(mcnemar_exact(only_a, only_b)) and row["test"] == "McNemar exact"
    assert row["ci95_low"] <= row["diff"] <= row["ci95_high"]


def test_a_deterministic_method_is_paired_with_every_seed_and_the_mean_pools_seeds(results):
    df = zsbench.compare("waffle", "clip", "toy", results, limit=120)
    assert list(zip(df["seed_a"], df["seed_b"])) == [("1", "0"), ("2", "0"), ("mean", "mean")]
    mean = df.iloc[-1]
    seeds = [zsbench.load_predictions(results, method="waffle", seed=s, limit=120).set_index("image_id")["correct"]
             for s in (1, 2)]
    assert mean["acc1_a"] == pytest.approx(100 * np.mean([s.mean() for s in seeds]))
    assert mean["test"] == "paired sign-flip"


def test_compare_cli_prints_the_table_and_csv(results):
    table = cli.invoke(app, ["compare", "--method", "clip,clip-e", "--dataset", "toy", "--limit", "120",
                             "--results-dir", str(results)])
    assert table.exit_code == 0, table.output
    text = " ".join(table.output.split())
    assert "clip (A) vs clip-e (B) on toy, 120 images" in text and "seed pairs: McNemar exact" in text
    csv = cli.invoke(app, ["compare", "--method", "clip,clip-e", "--dataset", "toy", "--limit", "120",
                           "--results-dir", str(results), "--format", "csv"])
    assert csv.output.splitlines()[0].startswith("method_a,method_b,seed_a,seed_b,acc1_a")


@pytest.mark.parametrize("args,message", [
    (["--method", "clip"], "give exactly two methods"),
    (["--method", "clip,abs", "--limit", "120"], "--method abs: no evaluation of it on 'toy' with --limit 120"),
    (["--method", "clip,clip-e"], "--method clip: no full evaluation of it on 'toy'; it has --limit evaluations: pass --limit 120"),
    (["--method", "clip@ffff,clip-e", "--limit", "120"], "no configuration of 'clip' on 'toy' has a hash starting 'ffff'"),
])
def test_compare_errors_are_one_line(results, args, message):
    res = cli.invoke(app, ["compare", "--dataset", "toy", "--results-dir", str(results), *args])
    assert res.exit_code == 2 and message in " ".join(res.output.split()) and "Traceback" not in res.output
