"""Few-shot training classes are mapped to evaluated classes by index wherever the label spaces
agree: ImageNet's names are not unique ("missile" 657 and 744, "sunglasses" 836 and 837)."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from zsbench.datasets import imagenet
from zsbench.datasets.base import Dataset
from zsbench.harness.evaluation.runner import Runner, RunError, RunSpec, target_classes

_buf = io.BytesIO()
Image.new("RGB", (8, 8), (10, 120, 40)).save(_buf, "JPEG")


def folders(base, names):
    for name in names:
        (base / name).mkdir(parents=True)
        (base / name / "0.JPEG").write_bytes(_buf.getvalue())


def test_imagenet_names_are_not_unique():
    names = list(imagenet.classnames())
    assert names[657] == names[744] == "missile" and names[836] == names[837] == "sunglasses"


def test_every_imagenet_class_gets_its_own_source_row(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSBENCH_SOURCE", "local")
    folders(tmp_path / "imagenet" / "images" / "val", imagenet.wnids())
    folders(tmp_path / "imagenet" / "images" / "train", imagenet.wnids())
    folders(tmp_path / "imagenetv2" / "imagenetv2-matched-frequency-format-val", [str(i) for i in range(1000)])
    folders(tmp_path / "imagenet-sketch" / "images", imagenet.wnids())
    folders(tmp_path / "imagenet-adversarial" / "imagenet-a", imagenet.wnids("imagenet-a"))
    runner = Runner(RunSpec(methods=[], data_root=tmp_path, cache_dir=tmp_path / "cache"))
    from zsbench.harness.core.registry import DATASETS

    for name in ("imagenet", "imagenet-v2", "imagenet-sketch"):
        fewshot = runner._fewshot(DATASETS.get(name)(tmp_path), 1, 1)
        assert fewshot.source.name == "imagenet" and fewshot.target_classes == list(range(1000)), name
        assert fewshot.target_classes[744] == 744 and fewshot.target_classes[837] == 837  # was 657 and 836 by name
    a = DATASETS.get("imagenet-a")(tmp_path)
    assert runner._fewshot(a, 1, 1).target_classes == list(a.imagenet_indices)


def _dataset(name, classes):
    return Dataset(name, list(classes), ["{}"], ["{}"], {}, source="test")


def test_between_different_label_spaces_names_must_be_unique():
    source = _dataset("src", ["cat", "dog", "missile", "missile"])
    assert target_classes(_dataset("sub", ["dog", "cat"]), source) == [1, 0]
    with pytest.raises(RunError, match=r"classes \['missile'\] are not unique by name"):
        target_classes(_dataset("sub", ["missile", "cat"]), source)
    with pytest.raises(RunError, match=r"lacks classes \['horse'\]"):
        target_classes(_dataset("sub", ["horse"]), source)
