"""Bad input: a corrupt image is named, Ctrl-C leaves nothing half-written, missing weights
offline give a clear message."""
from __future__ import annotations

import pytest
from PIL import Image

import zsbench
from zsbench.datasets.base import CorruptImageError, Dataset, FileSplit
from zsbench.harness.models import ModelLoadError, load_model
from zsbench.harness.registry import DATASETS
from zsbench.harness.runner import RunSpec, Runner
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


def test_ctrl_c_leaves_finished_rows_and_no_partial_files(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = ZeroShotCLIP.logits_from_features

    def interrupt_second(self, features):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, features)

    monkeypatch.setattr(ZeroShotCLIP, "logits_from_features", interrupt_second)
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
