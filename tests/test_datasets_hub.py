"""The Hub path, offline: tiny Parquet and WebDataset repos made in the test are loaded through the
same ``datasets.load_dataset`` code path as a Hub repo (``repo_id`` is a local folder)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import tarfile
from pathlib import Path
from types import SimpleNamespace

import datasets
import huggingface_hub
import pytest
from PIL import Image

from zsbench.datasets import catalog, imagenet
from zsbench.datasets.errors import CorruptImageError, DatasetFormatError, DatasetNotFoundError
from zsbench.datasets.catalog import build_dataset
from zsbench.datasets.records import RECORDS
from zsbench.datasets.hub import resolve_revision
from zsbench.datasets.hub_entry import HubEntry
from zsbench.harness.core.registry import DATASETS


def jpeg(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 0, 0)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    for var in ("ZSBENCH_DATA", "ZSBENCH_SOURCE"):
        monkeypatch.delenv(var, raising=False)


def parquet_repo(path: Path, images: list[bytes], labels: list, label_feature) -> Path:
    """A Hub-style Parquet repo: data/test-00000-of-00001.parquet with an Image column."""
    features = datasets.Features({"image": datasets.Image(), "label": label_feature})
    table = datasets.Dataset.from_dict({"image": [{"bytes": b, "path": None} for b in images], "label": labels}, features=features)
    (path / "data").mkdir(parents=True)
    table.to_parquet(str(path / "data" / "test-00000-of-00001.parquet"))
    return path


def wds_repo(path: Path, labels: list[int], classnames: list[str] | None) -> Path:
    """A Hub-style WebDataset repo (CLIP_benchmark's layout): test/0.tar of <key>.jpg + <key>.cls,
    and classnames.txt at the root."""
    (path / "test").mkdir(parents=True)
    with tarfile.open(path / "test" / "0.tar", "w") as tar:
        for i, label in enumerate(labels):
            for ext, data in (("jpg", jpeg(i)), ("cls", str(label).encode())):
                info = tarfile.TarInfo(f"s{i:07d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    if classnames is not None:
        (path / "classnames.txt").write_text("\n".join(classnames) + "\n")
    return path


def use_mirror(monkeypatch, name: str, entry: HubEntry) -> None:
    monkeypatch.setitem(RECORDS, name, dataclasses.replace(RECORDS[name], hub=entry))


def test_parquet_mirror_with_classlabel_names(tmp_path, monkeypatch):
    repo = parquet_repo(tmp_path / "food", [jpeg(i) for i in range(5)], [0, 1, 1, 0, 1],
                        datasets.ClassLabel(names=["apple_pie", "baby_back_ribs"]))
    use_mirror(monkeypatch, "food101", HubEntry(str(repo), None, "test", "image", "label"))
    monkeypatch.setenv("ZSBENCH_SOURCE", "hub")
    dataset = DATASETS.get("food101")(None)
    assert dataset.classnames == ["apple pie", "baby back ribs"]
    assert dataset.source == f"hub:{repo}"
    assert (dataset.test_split, dataset.train_split, dataset.val_split) == ("test", None, None)
    assert dataset.templates == ["a photo of {}, a type of food."]
    test = dataset.split("test")
    assert test.labels.tolist() == [0, 1, 1, 0, 1]
    image, label = test[2]
    assert image.size == (8, 8) and image.mode == "RGB" and label == 1
    assert test.fingerprint.startswith("food101/test/hub:") and test.fingerprint == dataset.split("test").fingerprint


def test_mirror_names_follow_coop_and_dropped_classes_drop_their_rows(tmp_path, monkeypatch):
    names = ["BACKGROUND_Google", "Faces", "airplanes", "yin_yang"]
    repo = parquet_repo(tmp_path / "caltech", [jpeg(40 * i) for i in range(6)], [0, 1, 2, 0, 3, 2], datasets.ClassLabel(names=names))
    use_mirror(monkeypatch, "caltech101", HubEntry(str(repo), None, "test", "image", "label"))
    dataset = build_dataset("caltech101", source="hub")
    assert dataset.classnames == ["face", "airplane", "yin yang"]
    test = dataset.split("test")
    assert test.labels.tolist() == [0, 1, 2, 1] and test.rows == [1, 2, 4, 5]
    assert test.image(0).getpixel((4, 4))[0] == pytest.approx(40, abs=8)  # the image of row 1


def test_webdataset_mirror_reads_classnames_file(tmp_path, monkeypatch):
    repo = wds_repo(tmp_path / "ucf", [0, 1, 2, 1], ["ApplyEyeMakeup", "YoYo", "Basketball"])
    use_mirror(monkeypatch, "ucf101", HubEntry(str(repo), None, "test", "jpg", "cls", "file:classnames.txt"))
    dataset = build_dataset("ucf101", source="hub")
    assert dataset.classnames == ["Apply Eye Makeup", "Yo Yo", "Basketball"]
    assert dataset.split("test").labels.tolist() == [0, 1, 2, 1]
    assert dataset.split("test").image(3).size == (8, 8)


def test_imagenet_a_mirror_is_200_way_from_its_label_indices(tmp_path, monkeypatch):
    repo = wds_repo(tmp_path / "ina", [0, 199, 5], None)
    use_mirror(monkeypatch, "imagenet-a", HubEntry(str(repo), None, "test", "jpg", "cls", "imagenet-a"))
    dataset = build_dataset("imagenet-a", source="hub")
    wnids, names, indices = imagenet.label_space("imagenet-a")
    assert dataset.n_classes == 200 and dataset.classnames == names and dataset.imagenet_indices == indices
    assert indices == imagenet.indices(wnids) and dataset.fewshot_from == "imagenet"
    assert dataset.split("test").labels.tolist() == [0, 199, 5]


def test_imagenet_r_mirror_with_a_wordnet_id_column(tmp_path, monkeypatch):
    wnids = imagenet.wnids("imagenet-r")
    repo = parquet_repo(tmp_path / "inr", [jpeg(0)] * 3, [wnids[3], wnids[0], wnids[199]], datasets.Value("string"))
    use_mirror(monkeypatch, "imagenet-r", HubEntry(str(repo), None, "test", "image", "label", "imagenet-r"))
    dataset = build_dataset("imagenet-r", source="hub")
    assert dataset.n_classes == 200
    assert dataset.split("test").labels.tolist() == [3, 0, 199]


def test_missing_label_column_is_named(tmp_path, monkeypatch):
    repo = parquet_repo(tmp_path / "dtd", [jpeg(0)], [0], datasets.ClassLabel(names=["banded"]))
    use_mirror(monkeypatch, "dtd", HubEntry(str(repo), None, "test", "image", "category"))
    with pytest.raises(DatasetFormatError, match=r"no label column 'category'; its columns are \['image', 'label'\]"):
        build_dataset("dtd", source="hub")


def test_missing_label_column_of_a_webdataset_is_named_when_loaded(tmp_path, monkeypatch):
    repo = wds_repo(tmp_path / "inv2", [0, 1], None)
    use_mirror(monkeypatch, "imagenet-v2", HubEntry(str(repo), None, "test", "jpg", "label", "imagenet-1k"))
    dataset = build_dataset("imagenet-v2", source="hub")
    with pytest.raises(DatasetFormatError, match="no label column 'label'.*'cls'"):
        dataset.split("test")


def test_label_outside_the_classes_is_refused(tmp_path, monkeypatch):
    repo = wds_repo(tmp_path / "ina", [0, 200], None)
    use_mirror(monkeypatch, "imagenet-a", HubEntry(str(repo), None, "test", "jpg", "cls", "imagenet-a"))
    with pytest.raises(DatasetFormatError, match="row 1 has label 200 .*; fix the classnames of its HubEntry"):
        build_dataset("imagenet-a", source="hub").split("test")


def test_truncated_image_in_a_mirror_names_the_row(tmp_path, monkeypatch):
    good = jpeg(0)
    repo = parquet_repo(tmp_path / "pets", [good, good[: len(good) // 2]], [0, 0], datasets.ClassLabel(names=["abyssinian"]))
    use_mirror(monkeypatch, "oxford-pets", HubEntry(str(repo), None, "test", "image", "label"))
    test = build_dataset("oxford-pets", source="hub").split("test")
    assert test.image(0).size == (8, 8)
    with pytest.raises(CorruptImageError, match=f"row 1 of {re.escape(str(repo))}"):
        test.image(1)


def test_auto_falls_back_to_the_mirror_and_local_is_the_default(tmp_path, monkeypatch):
    repo = parquet_repo(tmp_path / "dtd", [jpeg(0)], [0], datasets.ClassLabel(names=["banded"]))
    use_mirror(monkeypatch, "dtd", HubEntry(str(repo), None, "test", "image", "label"))
    with pytest.raises(DatasetNotFoundError, match="ZSBENCH_SOURCE=hub"):
        build_dataset("dtd", tmp_path / "data")
    monkeypatch.setenv("ZSBENCH_SOURCE", "auto")
    assert build_dataset("dtd", tmp_path / "data").source == f"hub:{repo}"


def test_unreachable_mirror_gives_a_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    use_mirror(monkeypatch, "dtd", HubEntry("zsbench-test/no-such-repo", "0" * 40, "test", "image", "label"))
    with pytest.raises(DatasetNotFoundError, match="cannot load the Hugging Face mirror zsbench-test/no-such-repo@0000") as err:
        build_dataset("dtd", source="hub")
    assert "ZSBENCH_SOURCE=local" in str(err.value)


def test_hub_table_is_declarative_and_pinned_where_known():
    unpinned = set()
    for name, spec in catalog.RECORDS.items():
        entry = spec.hub
        if entry is None:
            continue
        assert entry.classnames in ("features", *imagenet.LABEL_SPACES) or entry.classnames.startswith("file:")
        if entry.revision is None:
            unpinned.add(name)
        else:
            assert re.fullmatch(r"[0-9a-f]{40}", entry.revision), name
    assert unpinned == {"imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r"}


def test_unpinned_mirror_is_resolved_to_the_commit_main_points_to(monkeypatch):
    entry = HubEntry("zsbench-test/unpinned", None, "test", "jpg", "cls", "imagenet-1k")
    asked = []

    def dataset_info(self, repo_id, revision=None):
        asked.append((repo_id, revision))
        return SimpleNamespace(sha="ab" * 20)

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", dataset_info)
    resolved = resolve_revision("imagenet-v2", entry)
    assert asked == [("zsbench-test/unpinned", "main")]
    assert resolved.revision == "ab" * 20 and resolved.where == "zsbench-test/unpinned@" + "ab" * 20
    pinned = dataclasses.replace(entry, revision="cd" * 20)
    assert resolve_revision("imagenet-v2", pinned) is pinned and len(asked) == 1  # a pin is never looked up


def test_unpinned_mirror_offline_uses_the_cached_ref_or_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    entry = HubEntry("zsbench-test/unpinned", None, "test", "jpg", "cls", "imagenet-1k")
    with pytest.raises(DatasetNotFoundError, match="zsbench-test/unpinned@main \\(unpinned\\).*HF_HUB_OFFLINE"):
        resolve_revision("imagenet-v2", entry)  # offline (conftest) and nothing cached
    ref = tmp_path / "datasets--zsbench-test--unpinned" / "refs" / "main"
    ref.parent.mkdir(parents=True)
    ref.write_text("ef" * 20 + "\n")
    assert resolve_revision("imagenet-v2", entry).revision == "ef" * 20


def test_data_pin_lists_each_unpinned_mirror_with_its_commit(monkeypatch):
    from typer.testing import CliRunner

    from zsbench.harness.cli.app import app

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info",
                        lambda self, repo_id, revision=None: SimpleNamespace(sha=hashlib.sha1(repo_id.encode()).hexdigest()))
    res = CliRunner().invoke(app, ["data", "pin"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    unpinned = {n: s.hub.repo_id for n, s in catalog.RECORDS.items() if s.hub is not None and s.hub.revision is None}
    assert len(unpinned) == 4
    for name, repo in unpinned.items():
        line = next(line for line in res.output.splitlines() if f" {name} " in line)
        assert repo in line and hashlib.sha1(repo.encode()).hexdigest() in line
