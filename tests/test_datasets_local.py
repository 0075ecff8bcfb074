"""Local layouts: generated miniature trees (tiny images, real split/index file formats) are read
with CoOp's class names, labels and split sizes; missing or broken data fails with the fix text.
Also the registry entries, suites, templates and ``data status`` built on them."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from zsbench.datasets import imagenet
from zsbench.datasets.errors import CorruptImageError, DatasetFormatError, DatasetNotFoundError
from zsbench.datasets.catalog import SourceError, build_dataset
from zsbench.datasets.records import RECORDS
from zsbench.datasets.status import dataset_status
from zsbench.datasets.templates import IMAGENET_TEMPLATES_SELECT
from zsbench.harness.core.registry import DATASETS, SUITES

_buf = io.BytesIO()
Image.new("RGB", (8, 8), (200, 120, 40)).save(_buf, "JPEG")
JPEG = _buf.getvalue()


def write_images(paths) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(JPEG)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("ZSBENCH_DATA", "ZSBENCH_SOURCE"):
        monkeypatch.delenv(var, raising=False)


# --- Zhou split files -----------------------------------------------------------------------------

SIZES = {"train": 3, "val": 2, "test": 1}


def cars_path(folder: str, split: str, label: int, i: int) -> str:
    return f"cars_{'test' if split == 'test' else 'train'}/{label:03d}{split}{i}.jpg"


def flat_path(folder: str, split: str, label: int, i: int) -> str:
    return f"{folder}{label}_{split}{i}.jpg"


def class_path(folder: str, split: str, label: int, i: int) -> str:
    return f"{folder}/{split}_{i}.jpg"


# name, dataset folder, image folder, split file, [(name in the split file, class folder)], expected names, relpath
ZHOU_CASES = [
    ("caltech101", "caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json",
     [("face", "Faces"), ("leopard", "Leopards"), ("yin_yang", "yin_yang")], ["face", "leopard", "yin yang"], class_path),
    ("oxford-pets", "oxford_pets", "images", "split_zhou_OxfordPets.json",
     [("abyssinian", "Abyssinian_"), ("american_bulldog", "american_bulldog_")], ["abyssinian", "american bulldog"], flat_path),
    ("stanford-cars", "stanford_cars", "", "split_zhou_StanfordCars.json",
     [("2000 AM General Hummer SUV", ""), ("2012 Tesla Model S Sedan", "")], ["2000 AM General Hummer SUV", "2012 Tesla Model S Sedan"], cars_path),
    ("flowers102", "oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json",
     [("pink primrose", "image_"), ("hard-leaved pocket orchid", "image_")], ["pink primrose", "hard-leaved pocket orchid"], flat_path),
    ("food101", "food-101", "images", "split_zhou_Food101.json",
     [("apple_pie", "apple_pie"), ("baby_back_ribs", "baby_back_ribs")], ["apple pie", "baby back ribs"], class_path),
    ("sun397", "sun397", "SUN397", "split_zhou_SUN397.json",
     [("abbey", "a/abbey"), ("outdoor church", "c/church/outdoor")], ["abbey", "outdoor church"], class_path),
    ("dtd", "dtd", "images", "split_zhou_DescribableTextures.json",
     [("banded", "banded"), ("zigzagged", "zigzagged")], ["banded", "zigzagged"], class_path),
    ("eurosat", "eurosat", "2750", "split_zhou_EuroSAT.json",
     [("Annual Crop Land", "AnnualCrop"), ("Sea or Lake", "SeaLake")], ["Annual Crop Land", "Sea or Lake"], class_path),
    ("ucf101", "ucf101", "UCF-101-midframes", "split_zhou_UCF101.json",
     [("Apply_Eye_Makeup", "Apply_Eye_Makeup"), ("Yo_Yo", "Yo_Yo")], ["Apply Eye Makeup", "Yo Yo"], class_path),
]
ZHOU_IDS = [case[0] for case in ZHOU_CASES]


def make_zhou(root: Path, case) -> dict:
    _, folder, images, split_file, classes, _, relpath = case
    split = {
        name: [[relpath(classes[c][1], name, c, i), c, classes[c][0]] for i in range(n) for c in range(len(classes))]
        for name, n in SIZES.items()
    }
    write_images(root / folder / images / r for records in split.values() for r, _, _ in records)
    (root / folder / split_file).write_text(json.dumps(split))
    return split


@pytest.mark.parametrize("case", ZHOU_CASES, ids=ZHOU_IDS)
def test_zhou_split_layouts(tmp_path, case):
    name, folder, images, split_file, classes, names, _ = case
    split = make_zhou(tmp_path, case)
    dataset = build_dataset(name, tmp_path)
    assert dataset.classnames == names
    assert dataset.source == f"local:{folder}/{split_file}"
    assert (dataset.train_split, dataset.val_split, dataset.test_split) == ("train", "val", "test")
    assert dataset.templates == [RECORDS[name].template]
    assert dataset.imagenet_indices is None and dataset.fewshot_from is None
    for split_name, n in SIZES.items():
        loaded = dataset.split(split_name)
        assert len(loaded) == n * len(classes)
        assert loaded.labels.tolist() == [label for _, label, _ in split[split_name]]
        assert loaded.paths == [tmp_path / folder / images / r for r, _, _ in split[split_name]]
        assert loaded.name == split_name and loaded.fingerprint.startswith(f"{name}/{split_name}/local/")
    image, label = dataset.split("test")[1]
    assert image.size == (8, 8) and image.mode == "RGB" and label == 1


def test_missing_split_file_names_it_and_the_fix(tmp_path):
    make_zhou(tmp_path, ZHOU_CASES[0])
    (tmp_path / "caltech-101" / "split_zhou_Caltech101.json").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        build_dataset("caltech101", tmp_path)
    message = str(err.value)
    assert str(tmp_path / "caltech-101" / "split_zhou_Caltech101.json") in message
    assert "--data-root" in message and "ZSBENCH_DATA" in message
    assert "DATASETS.md#caltech101" in message
    assert "ZSBENCH_SOURCE=hub" in message and "mteb/Caltech101@" in message


def test_no_data_root_says_how_to_set_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no data root is set: pass --data-root DIR or set ZSBENCH_DATA=DIR"):
        build_dataset("dtd")


def test_data_root_from_the_environment(tmp_path, monkeypatch):
    make_zhou(tmp_path, ZHOU_CASES[6])
    monkeypatch.setenv("ZSBENCH_DATA", str(tmp_path))
    assert DATASETS.get("dtd")(None).classnames == ["banded", "zigzagged"]


def test_absent_class_folder_is_named(tmp_path):
    make_zhou(tmp_path, ZHOU_CASES[0])
    for f in (tmp_path / "caltech-101" / "101_ObjectCategories" / "Leopards").iterdir():
        f.unlink()
    (tmp_path / "caltech-101" / "101_ObjectCategories" / "Leopards").rmdir()
    with pytest.raises(DatasetNotFoundError, match="class folders listed in split_zhou_Caltech101.json") as err:
        build_dataset("caltech101", tmp_path)
    assert str(tmp_path / "caltech-101" / "101_ObjectCategories" / "Leopards") in str(err.value)
    assert err.value.missing == ["caltech-101/101_ObjectCategories/Leopards"]


def test_truncated_image_names_the_file(tmp_path):
    split = make_zhou(tmp_path, ZHOU_CASES[4])
    bad = tmp_path / "food-101" / "images" / split["test"][0][0]
    bad.write_bytes(JPEG[: len(JPEG) // 2])
    test = build_dataset("food101", tmp_path).split("test")
    with pytest.raises(CorruptImageError, match=str(bad)):
        test[0]


# Malformed split files, lists and mirrors: tests/test_dataset_errors.py


# --- ImageNet family ------------------------------------------------------------------------------


def make_class_folders(base: Path, names, per_class: int = 1) -> None:
    write_images(base / n / f"{i}.JPEG" for n in names for i in range(per_class))


def test_imagenet_val_is_the_test_split(tmp_path):
    make_class_folders(tmp_path / "imagenet" / "images" / "val", imagenet.wnids())
    dataset = build_dataset("imagenet", tmp_path)
    assert dataset.n_classes == 1000 and dataset.classnames[:2] == ["tench", "goldfish"]
    assert dataset.source == "local:imagenet/images/val"
    assert (dataset.train_split, dataset.val_split, dataset.imagenet_indices) == ("train", None, None)
    test = dataset.split("test")
    assert test.labels.tolist() == list(range(1000))
    assert test.paths[1] == tmp_path / "imagenet" / "images" / "val" / "n01443537" / "0.JPEG"
    assert len(dataset.ensemble_templates) == 80
    with pytest.raises(DatasetNotFoundError, match="few-shot training only") as err:
        dataset.split("train")  # train is only needed by few-shot methods: checked when loaded
    assert str(tmp_path / "imagenet" / "images" / "train") in str(err.value)


def test_imagenet_missing_class_folder_is_named(tmp_path):
    make_class_folders(tmp_path / "imagenet" / "images" / "val", imagenet.wnids()[1:])
    with pytest.raises(DatasetNotFoundError, match="class folders of imagenet-1k") as err:
        build_dataset("imagenet", tmp_path)
    assert err.value.missing == ["imagenet/images/val/n01440764"]


def test_imagenet_v2_folders_are_class_indices(tmp_path):
    make_class_folders(tmp_path / "imagenetv2" / "imagenetv2-matched-frequency-format-val", [str(i) for i in range(1000)])
    dataset = build_dataset("imagenet-v2", tmp_path)
    test = dataset.split("test")
    assert test.labels.tolist() == list(range(1000))
    assert test.paths[10].parent.name == "10"
    assert dataset.classnames == list(imagenet.classnames()) and dataset.fewshot_from == "imagenet"
    assert dataset.train_split is None and dataset.val_split is None


def test_imagenet_sketch(tmp_path):
    make_class_folders(tmp_path / "imagenet-sketch" / "images", imagenet.wnids(), per_class=2)
    dataset = build_dataset("imagenet-sketch", tmp_path)
    assert len(dataset.split("test")) == 2000 and dataset.n_classes == 1000


@pytest.mark.parametrize("name, folder, space", [("imagenet-a", "imagenet-adversarial/imagenet-a", "imagenet-a"),
                                                 ("imagenet-r", "imagenet-rendition/imagenet-r", "imagenet-r")])
def test_imagenet_subsets_are_200_way(tmp_path, name, folder, space):
    base = tmp_path / folder
    make_class_folders(base, imagenet.wnids(space))
    (base / "README.txt").write_text("not a class")
    dataset = build_dataset(name, tmp_path)
    assert dataset.n_classes == 200 and dataset.fewshot_from == "imagenet"
    indices = [int(x) for x in _timm_info(f"{space.replace('-', '_')}_indices.txt")]
    assert dataset.imagenet_indices == indices
    assert dataset.classnames == [imagenet.classnames()[i] for i in indices]
    test = dataset.split("test")
    assert test.labels.tolist() == list(range(200))
    assert [p.parent.name for p in test.paths] == sorted(p.name for p in base.iterdir() if p.is_dir())


def _timm_info(filename: str) -> list[str]:
    import importlib.util

    return (Path(importlib.util.find_spec("timm").origin).parent / "data" / "_info" / filename).read_text().split()


def test_imagenet_subset_with_a_foreign_folder_is_refused(tmp_path):
    base = tmp_path / "imagenet-rendition" / "imagenet-r"
    make_class_folders(base, [*imagenet.wnids("imagenet-r"), "n99999999"])
    with pytest.raises(DatasetFormatError, match="not imagenet-r classes: n99999999; move them out of it") as err:
        build_dataset("imagenet-r", tmp_path)
    assert str(base) in str(err.value)


# --- official index files -------------------------------------------------------------------------


def test_fgvc_aircraft_official_lists(tmp_path):
    folder = tmp_path / "fgvc_aircraft"
    variants = ["707-320", "A300B4", "F/A-18"]
    folder.mkdir()
    (folder / "variants.txt").write_text("\n".join(variants) + "\n")
    sizes = {"train": 2, "val": 1, "test": 3}
    for split, n in sizes.items():
        lines = [f"{split}{c}{i:05d} {variants[c]}" for i in range(n) for c in range(3)]
        (folder / f"images_variant_{split}.txt").write_text("\n".join(lines) + "\n")
        write_images(folder / "images" / f"{line.split()[0]}.jpg" for line in lines)
    dataset = build_dataset("fgvc-aircraft", tmp_path)
    assert dataset.classnames == variants
    assert dataset.source == "local:fgvc_aircraft/images_variant_{train,val,test}.txt"
    for split, n in sizes.items():
        assert dataset.split(split).labels.tolist() == [0, 1, 2] * n
    assert dataset.split("test").paths[2] == folder / "images" / "test200000.jpg"
    (folder / "images_variant_val.txt").write_text("123 Concorde\n")
    with pytest.raises(DatasetFormatError, match=r"images_variant_val.txt:1: variant 'Concorde' is not in variants.txt; extract"):
        build_dataset("fgvc-aircraft", tmp_path)  # the lists are checked when the dataset is built


def test_cub_official_files(tmp_path):
    folder = tmp_path / "CUB_200_2011"
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross"]
    folder.mkdir()
    (folder / "classes.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    images = [(str(i + 1), f"{classes[i % 2]}/img_{i}.jpg", "1" if i < 6 else "0") for i in range(10)]
    (folder / "images.txt").write_text("".join(f"{i} {p}\n" for i, p, _ in images))
    (folder / "train_test_split.txt").write_text("".join(f"{i} {t}\n" for i, _, t in images))
    write_images(folder / "images" / p for _, p, _ in images)
    dataset = build_dataset("cub", tmp_path)
    assert dataset.classnames == ["Black footed Albatross", "Laysan Albatross"]
    assert (dataset.train_split, dataset.val_split) == ("train", None)
    assert dataset.split("train").labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert len(dataset.split("test")) == 4
    assert dataset.templates == ["a photo of a {}, a type of bird."]


def test_places365_val(tmp_path):
    folder = tmp_path / "places365"
    folder.mkdir()
    (folder / "categories_places365.txt").write_text("/a/airfield 0\n/c/church/outdoor 1\n/b/bakery/shop 2\n")
    lines = [(f"Places365_val_{i:08d}.jpg", i % 3) for i in range(1, 7)]
    (folder / "places365_val.txt").write_text("".join(f"{n} {label}\n" for n, label in lines))
    write_images(folder / "val_256" / n for n, _ in lines)
    dataset = build_dataset("places365", tmp_path)
    assert dataset.classnames == ["airfield", "outdoor church", "shop bakery"]
    assert list(dataset.splits) == ["test"] and dataset.train_split is None
    assert dataset.split("test").labels.tolist() == [label for _, label in lines]


# --- registry, suites, templates, status ----------------------------------------------------------

REAL = {"imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r", "caltech101", "oxford-pets",
        "stanford-cars", "flowers102", "food101", "fgvc-aircraft", "sun397", "dtd", "eurosat", "ucf101", "cub", "places365"}


def test_every_dataset_is_registered_and_fails_with_a_fix_when_absent(tmp_path):
    assert REAL <= set(DATASETS.names()) and set(RECORDS) == REAL
    for name in sorted(REAL):
        with pytest.raises(DatasetNotFoundError, match=f"dataset '{name}' not found locally") as err:
            DATASETS.get(name)(tmp_path)
        assert str(tmp_path / RECORDS[name].folder) in str(err.value) and "get it:" in str(err.value)


def test_suites():
    ood, fine, abs_paper, every = (SUITES.get(n) for n in ("ood", "fine-grained", "abs-paper", "all"))
    variants = ("imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r")
    assert ood.datasets == ("imagenet", *variants) and all(RECORDS[v].fewshot_from == "imagenet" for v in variants)
    assert dict(ood.averages) == {"OOD average": variants}
    assert len(fine.datasets) == 11 and dict(fine.averages) == {"Average": fine.datasets}
    assert set(abs_paper.datasets) == {"imagenet", *variants, "cub", "oxford-pets", "dtd", "food101", "places365"}
    assert set(every.datasets) == REAL
    for suite in (ood, fine, abs_paper, every):
        assert set(suite.datasets) <= set(DATASETS.names())
        assert all(set(members) <= set(suite.datasets) for _, members in suite.averages)


def test_templates():
    assert IMAGENET_TEMPLATES_SELECT == (
        "itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
        "a {} in a video game.", "art of the {}.", "a photo of the small {}.",
    )
    inet_r = RECORDS["imagenet-r"].ensemble_templates()
    assert inet_r[0] == "a bad photo of a {}." and len(inet_r) == 80
    assert len(RECORDS["ucf101"].ensemble_templates()) == 48 and RECORDS["cub"].ensemble_templates() == ["a photo of a {}, a type of bird."]
    for name in REAL:
        assert all(t.count("{}") == 1 for t in [RECORDS[name].template, *RECORDS[name].ensemble_templates()])


def test_source_must_be_known(tmp_path):
    with pytest.raises(SourceError, match="^source='cloud' is not a data source: use one of local, hub, auto$"):
        build_dataset("dtd", tmp_path, source="cloud")
    with pytest.raises(DatasetNotFoundError, match="'cub' has no Hugging Face mirror"):
        build_dataset("cub", tmp_path, source="hub")


def test_data_status(tmp_path):
    make_zhou(tmp_path, ZHOU_CASES[0])
    make_class_folders(tmp_path / "imagenet" / "images" / "val", imagenet.wnids())
    report = {s.name: s for s in dataset_status(tmp_path)}
    assert set(report) == REAL
    caltech = report["caltech101"]
    assert caltech.found and caltech.location == tmp_path / "caltech-101"
    assert caltech.split_file == "split_zhou_Caltech101.json" and caltech.n_classes == 3
    assert caltech.n_images == {"train": 9, "val": 6, "test": 3} and caltech.missing == [] and caltech.fix is None
    assert RECORDS["caltech101"].hub.where.startswith("mteb/Caltech101@011e51e5")  # the mirror the fix text offers
    inet = report["imagenet"]
    assert inet.found and inet.n_images == {"test": 1000} and inet.missing == ["imagenet/images/train"]
    assert "few-shot training only" in inet.fix
    pets = report["oxford-pets"]
    assert not pets.found and pets.missing == ["oxford_pets"] and "DATASETS.md#oxfordpets" in pets.fix
    assert RECORDS["cub"].hub is None and "Hugging Face mirror" not in report["cub"].fix
    assert all(not s.found and s.fix for s in dataset_status(None))
