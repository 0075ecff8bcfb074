"""Per-image predictions: what they hold, their size at ImageNet scale, and joining them to the
results."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

import zsbench
from zsbench.harness.cli.app import app
from zsbench.harness.results.predictions import predictions_path, predictions_table, write_predictions


def _imagenet_like(seed: int = 0):
    """50,000 ImageNet-validation-shaped predictions: real wnid folders, shuffled file numbers, and
    logits where the label usually, but not always, wins."""
    g = torch.Generator().manual_seed(seed)
    synsets = Path(importlib.util.find_spec("timm").origin).parent / "data" / "_info" / "imagenet_synsets.txt"
    wnids = synsets.read_text().split()
    labels = torch.arange(1000).repeat_interleave(50)
    numbers = torch.randperm(50_000, generator=g) + 1
    ids = [f"imagenet/images/val/{wnids[int(y)]}/ILSVRC2012_val_{int(k):08d}.JPEG" for y, k in zip(labels, numbers)]
    logits = 3 * torch.randn(50_000, 1000, generator=g) + 20
    logits[torch.arange(50_000), labels] += 6 * torch.rand(50_000, generator=g)
    return ids, labels, logits


def test_imagenet_scale_predictions_stay_under_3_mb(tmp_path):
    ids, labels, logits = _imagenet_like()
    path = write_predictions(tmp_path, predictions_table("e" * 16, ids, labels, logits))
    size = path.stat().st_size
    assert size < 3_000_000, size
    df = pq.read_table(path).to_pandas()
    assert len(df) == 50_000 and df["image_id"].tolist() == ids
    top = logits.topk(5, dim=1)
    assert np.array_equal(np.stack(df["top5_classes"]), top.indices.numpy())
    assert np.array_equal(np.stack(df["top5_logits"]), top.values.numpy())
    assert df["correct"].tolist() == (top.indices[:, 0] == labels).tolist()
    with_logits = write_predictions(tmp_path / "full", predictions_table("f" * 16, ids, labels, logits, save_logits=True))
    full = pq.read_table(with_logits, columns=["logits"]).column("logits")
    assert str(full.type.value_type) == "halffloat" and full.type.list_size == 1000
    assert np.allclose(np.asarray(full[7].values, dtype=np.float32), logits[7].numpy(), atol=0.02)


def test_fewer_than_five_classes_keep_all_of_them():
    table = predictions_table("e1", ["a", "b"], torch.tensor([0, 2]), torch.tensor([[0.1, 0.9, 0.0], [0.0, 0.1, 0.9]]))
    assert table["top5_classes"].type.list_size == 3
    assert table["top5_classes"].to_pylist() == [[1, 0, 2], [2, 1, 0]]
    assert table["correct"].to_pylist() == [False, True]


@pytest.fixture(scope="module")
def toy_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pred")
    result = CliRunner().invoke(app, ["run", "--method", "clip,waffle", "--dataset", "toy,toy-fine", "--limit", "40",
                                      "--seeds", "1,2", "--latency-images", "0", "--results-dir", str(root / "results"),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    return root / "results"


def test_every_evaluation_writes_predictions_that_join_to_its_row(toy_runs):
    results = zsbench.load_results(toy_runs)
    assert len(results) == 6  # clip once, waffle twice, on two datasets
    for _, row in results.iterrows():
        assert predictions_path(toy_runs, row["eval_id"]).is_file()
    preds = zsbench.load_predictions(toy_runs)
    assert len(preds) == 6 * 40
    joined = preds.merge(results, on="eval_id")
    recomputed = joined.groupby("eval_id")["correct"].mean() * 100
    assert np.allclose(recomputed.sort_index(), results.set_index("eval_id")["acc1"].sort_index())
    toy = joined[joined["dataset"] == "toy"]
    assert toy["image_id"].str.fullmatch(r"toy/test/\d+").all()
    # the same images for every method and seed of a dataset (the --limit subset is fixed)
    assert toy.groupby("eval_id")["image_id"].apply(tuple).nunique() == 1


def test_load_predictions_filters_on_results_columns(toy_runs):
    one = zsbench.load_predictions(toy_runs, method="waffle", dataset="toy", seed=2)
    assert one["eval_id"].nunique() == 1 and len(one) == 40
    both = zsbench.load_predictions(toy_runs, method="waffle", seed=[1, 2])
    assert both["eval_id"].nunique() == 4
    with pytest.raises(KeyError, match="no results column 'nope'"):
        zsbench.load_predictions(toy_runs, nope=1)
    assert zsbench.load_predictions(toy_runs, method="abs").empty


def test_save_logits_adds_the_full_logits(tmp_path):
    result = CliRunner().invoke(app, ["run", "--method", "clip", "--dataset", "toy-fine", "--limit", "10", "--save-logits",
                                      "--latency-images", "0", "--results-dir", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    preds = zsbench.load_predictions(tmp_path)
    assert preds["logits"].map(len).tolist() == [5] * 10  # toy-fine has 5 classes
    assert all(np.argmax(l) == t[0] for l, t in zip(preds["logits"], preds["top5_classes"]))
