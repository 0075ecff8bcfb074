"""Bad dataset input fails with a one-line UserError naming the file (or variable, or Hub row) and
the fix, when the dataset is built (before any model work), never with a traceback: malformed Zhou
split files and official lists, an unknown ZSBENCH_SOURCE, images over Pillow's size limit, and
mirrors that do not match their entry."""
from __future__ import annotations

import dataclasses
import io
import json
import warnings
from pathlib import Path

import datasets
import pytest
from PIL import Image

from zsbench.datasets import catalog, imagenet
from zsbench.datasets.errors import CorruptImageError, DatasetFormatError
from zsbench.datasets.catalog import SourceError, build_dataset
from zsbench.datasets.local_layouts import COOP_DATASETS_MD
from zsbench.datasets.records import RECORDS
from zsbench.datasets.hub_entry import HubEntry
from zsbench.datasets.local_layouts import MissingDataError, ZhouSplit
from zsbench.datasets.status import dataset_status
from zsbench.harness.core.errors import UserError
from zsbench.harness.core.registry import DATASETS

PNG = io.BytesIO()
Image.new("RGB", (8, 8), (10, 200, 90)).save(PNG, "PNG")
PNG = PNG.getvalue()


@pytest.fixture(autouse=True)
def _clean_env(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    for var in ("ZSBENCH_DATA", "ZSBENCH_SOURCE"):
        monkeypatch.delenv(var, raising=False)


def write_images(paths) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(PNG)


def format_error(build) -> str:
    """The message of the DatasetFormatError ``build()`` raises, checked to be a one-line UserError
    raised without a chained traceback."""
    with pytest.raises(DatasetFormatError) as err:
        build()
    assert isinstance(err.value, UserError) and isinstance(err.value, ValueError)
    message = str(err.value)
    assert "\n" not in message
    assert err.value.__cause__ is None and (err.value.__context__ is None or err.value.__suppress_context__)  # no chained traceback
    return message


# --- Zhou split files -----------------------------------------------------------------------------

DTD_FILE = "split_zhou_DescribableTextures.json"
DTD_FIX = f"download {DTD_FILE} again from {COOP_DATASETS_MD}#dtd"
GOOD = {
    "train": [["banded/a.jpg", 0, "banded"], ["zigzagged/b.jpg", 1, "zigzagged"]],
    "val": [["banded/c.jpg", 0, "banded"]],
    "test": [["zigzagged/d.jpg", 1, "zigzagged"]],
}


@pytest.fixture
def dtd_root(tmp_path) -> Path:
    root = tmp_path / "data"
    write_images(root / "dtd" / "images" / r for items in GOOD.values() for r, _, _ in items)
    (root / "dtd" / DTD_FILE).write_text(json.dumps(GOOD))
    return root


def _with(split: str, index: int, item) -> dict:
    changed = json.loads(json.dumps(GOOD))
    changed[split][index] = item
    return changed


# (file content: a JSON-able object, or str/bytes written as is; what the message says)
ZHOU_BAD = {
    "invalid JSON": ("{not json", "is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2;"),
    "truncated JSON": (json.dumps(GOOD)[:60], "ends early: probably a cut-off download"),
    "empty file": ("", "is not valid JSON: Expecting value at line 1 column 1 (the file ends early"),
    "top level is an array": (list(GOOD.values()), "holds a JSON array, not a JSON object mapping train, val and test"),
    "top level is a string": ("\"train\"", "holds a JSON string, not a JSON object"),
    "no test list": ({"train": GOOD["train"], "val": GOOD["val"]}, "has no 'test' list"),
    "train is an object": ({**GOOD, "train": {"banded/a.jpg": 0}}, "'train' is a JSON object, not a list of [relpath, label, classname]"),
    "val is null": ({**GOOD, "val": None}, "'val' is a JSON null, not a list"),
    "empty test": ({**GOOD, "test": []}, "'test' is empty"),
    "item is a string": (_with("train", 1, "zigzagged/b.jpg"), 'train[1] is "zigzagged/b.jpg", expected [relpath, label, classname]'),
    "item is an object": (_with("val", 0, {"path": "banded/c.jpg"}), 'val[0] is {"path": "banded/c.jpg"}, expected'),
    "short item": (_with("train", 0, ["banded/a.jpg", 0]), 'train[0] is ["banded/a.jpg", 0], expected [relpath, label, classname]'),
    "long item": (_with("test", 0, ["zigzagged/d.jpg", 1, "zigzagged", 7]), "test[0] is [\"zigzagged/d.jpg\", 1, \"zigzagged\", 7], expected"),
    "relpath is a number": (_with("train", 0, [3, 0, "banded"]), "train[0] has relpath 3, expected a path relative to the images/ folder"),
    "relpath is empty": (_with("train", 0, ["", 0, "banded"]), 'train[0] has relpath "", expected a path relative'),
    "relpath is absolute": (_with("train", 0, ["/etc/passwd", 0, "banded"]), 'train[0] has relpath "/etc/passwd", expected a path relative'),
    "relpath leaves the folder": (_with("train", 0, ["../x.jpg", 0, "banded"]), 'has relpath "../x.jpg", expected a path relative'),
    "label 1.5": (_with("train", 1, ["zigzagged/b.jpg", 1.5, "zigzagged"]), "train[1] has label 1.5, expected an integer 0 or more"),
    "label 1.0": (_with("train", 1, ["zigzagged/b.jpg", 1.0, "zigzagged"]), "train[1] has label 1.0, expected an integer"),
    'label "3"': (_with("train", 1, ["zigzagged/b.jpg", "3", "zigzagged"]), 'train[1] has label "3", expected an integer'),
    "label true": (_with("train", 1, ["zigzagged/b.jpg", True, "zigzagged"]), "train[1] has label true, expected an integer"),
    "label null": (_with("val", 0, ["banded/c.jpg", None, "banded"]), "val[0] has label null, expected an integer"),
    "negative label": (_with("test", 0, ["zigzagged/d.jpg", -1, "zigzagged"]), "test[0] has label -1, expected an integer 0 or more"),
    "label gap": ({k: [[r, 2 if label == 1 else label, c] for r, label, c in v] for k, v in GOOD.items()},
                  "labels must be 0..1 without gaps (one per class), but it uses labels up to 2 and never 1"),
    "classname is a number": (_with("train", 0, ["banded/a.jpg", 0, 5]), "train[0] has classname 5, expected the class name as a string"),
    "classname is blank": (_with("train", 0, ["banded/a.jpg", 0, " "]), 'train[0] has classname " ", expected'),
    "one label, two names": (_with("test", 0, ["zigzagged/d.jpg", 1, "wavy"]), "test[0]: label 1 is named both 'zigzagged' and 'wavy'"),
    "not UTF-8": (b'{"train": [["banded/\xe9.jpg", 0, "banded"]]}', "is not UTF-8 text (byte 20 cannot be decoded)"),
    "UTF-16": (json.dumps(GOOD).encode("utf-16"), "is not UTF-8 text (byte 0 cannot be decoded)"),
}


@pytest.mark.parametrize("content, says", ZHOU_BAD.values(), ids=ZHOU_BAD.keys())
def test_malformed_zhou_split_file(dtd_root, content, says):
    path = dtd_root / "dtd" / DTD_FILE
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    message = format_error(lambda: build_dataset("dtd", dtd_root))
    assert message.startswith(f"{path}")
    assert says in message
    assert message.endswith(f"; {DTD_FIX}")


def test_the_good_file_of_those_cases_builds(dtd_root):
    """The cases above differ from a file that works only in what they break."""
    dataset = build_dataset("dtd", dtd_root)
    assert dataset.classnames == ["banded", "zigzagged"] and len(dataset.split("train")) == 2


def test_a_utf8_byte_order_mark_is_accepted(dtd_root):
    (dtd_root / "dtd" / DTD_FILE).write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    assert build_dataset("dtd", dtd_root).classnames == ["banded", "zigzagged"]


def test_a_malformed_split_file_is_reported_not_replaced_by_the_mirror(dtd_root, monkeypatch):
    """With ZSBENCH_SOURCE=auto a missing local dataset falls back to the mirror; a damaged one is
    the user's to fix, so it is reported instead of silently evaluating other data."""
    monkeypatch.setenv("ZSBENCH_SOURCE", "auto")
    monkeypatch.setattr(catalog, "hub_dataset", lambda spec: pytest.fail("fell back to the mirror"))
    (dtd_root / "dtd" / DTD_FILE).write_text("[]")
    assert "holds a JSON array" in format_error(lambda: DATASETS.get("dtd")(dtd_root))


def test_every_zhou_layout_links_its_own_datasets_md_section():
    zhou = {name: spec for name, spec in RECORDS.items() if isinstance(spec.layout, ZhouSplit)}
    assert len(zhou) == 9
    for name, spec in zhou.items():
        assert spec.layout.link.startswith(f"{COOP_DATASETS_MD}#") and spec.layout.link in spec.get, name


# --- ImageNet folders and the official lists --------------------------------------------------------


def test_imagenet_class_folders_without_images(tmp_path):
    for wnid in imagenet.wnids("imagenet-a"):
        (tmp_path / "imagenet-adversarial" / "imagenet-a" / wnid).mkdir(parents=True)
    dataset = build_dataset("imagenet-a", tmp_path)  # cheap: folders are listed when the split is loaded
    with pytest.raises(MissingDataError, match="missing \\(images: its class folders are all empty\\)") as err:
        dataset.split("test")
    assert str(tmp_path / "imagenet-adversarial" / "imagenet-a") in str(err.value) and "get it:" in str(err.value)


def _aircraft(root: Path, variants: str, lists: dict[str, str]) -> Path:
    folder = root / "fgvc_aircraft"
    (folder / "images").mkdir(parents=True)
    (folder / "variants.txt").write_text(variants)
    for split in ("train", "val", "test"):
        (folder / f"images_variant_{split}.txt").write_text(lists.get(split, "1000001 Cessna 172\n"))
    return folder


AIRCRAFT_FIX = "; extract the data/ folder of fgvc-aircraft-2013b.tar.gz again"


def test_aircraft_variant_names_with_spaces(tmp_path):
    _aircraft(tmp_path, "707-320\nCessna 172\n", {"train": "1000001 Cessna 172\n1000002 707-320\n"})
    dataset = build_dataset("fgvc-aircraft", tmp_path)
    assert dataset.classnames == ["707-320", "Cessna 172"] and dataset.split("train").labels.tolist() == [1, 0]


@pytest.mark.parametrize("variants, lists, where, says", [
    ("707-320\nCessna 172\n", {"val": "1000003\n"}, "images_variant_val.txt:1",
     "expected a line '<image id> <variant>', got '1000003'"),
    ("707-320\nCessna 172\n", {"test": "1000001 Cessna 172\n\n1000004 Concorde\n"}, "images_variant_test.txt:3",
     "variant 'Concorde' is not in variants.txt"),
    ("707-320\nCessna 172\n", {"train": "\n"}, "images_variant_train.txt", "lists no images"),
    ("707-320\nCessna 172\n707-320\n", {}, "variants.txt:3", "variant '707-320' is listed twice"),
    ("\n", {}, "variants.txt", "lists no variants"),
])
def test_malformed_aircraft_lists(tmp_path, variants, lists, where, says):
    folder = _aircraft(tmp_path, variants, lists)
    message = format_error(lambda: build_dataset("fgvc-aircraft", tmp_path))
    assert message == f"{folder / where}: {says}{AIRCRAFT_FIX}" or message == f"{folder / where} {says}{AIRCRAFT_FIX}"


def test_aircraft_list_that_is_not_utf8(tmp_path):
    folder = _aircraft(tmp_path, "707-320\nCessna 172\n", {})
    (folder / "images_variant_val.txt").write_bytes(b"1000001 707-320\n\xff\n")
    assert format_error(lambda: build_dataset("fgvc-aircraft", tmp_path)) == (
        f"{folder / 'images_variant_val.txt'} is not UTF-8 text (byte 16 cannot be decoded){AIRCRAFT_FIX}")


CUB_CLASSES = "1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n"
CUB_IMAGES = "1 001.Black_footed_Albatross/a.jpg\n2 002.Laysan_Albatross/b.jpg\n3 002.Laysan_Albatross/c.jpg\n"
CUB_SPLIT = "1 1\n2 1\n3 0\n"


def _cub(root: Path, classes=CUB_CLASSES, images=CUB_IMAGES, split=CUB_SPLIT) -> Path:
    folder = root / "CUB_200_2011"
    for name in ("001.Black_footed_Albatross", "002.Laysan_Albatross"):
        (folder / "images" / name).mkdir(parents=True)
    (folder / "classes.txt").write_text(classes)
    (folder / "images.txt").write_text(images)
    (folder / "train_test_split.txt").write_text(split)
    return folder


def test_the_good_cub_files_of_those_cases_build(tmp_path):
    _cub(tmp_path)
    dataset = build_dataset("cub", tmp_path)
    assert dataset.split("train").labels.tolist() == [0, 1] and dataset.split("test").labels.tolist() == [1]


@pytest.mark.parametrize("files, message", [
    ({"classes": "1 001.Black_footed_Albatross\n2\n"}, "classes.txt:2: expected a line '<class id> <class folder>', got '2'"),
    ({"classes": CUB_CLASSES + "3 001.Black_footed_Albatross\n"}, "classes.txt:3: class '001.Black_footed_Albatross' is listed twice"),
    ({"classes": ""}, "classes.txt lists no classes"),
    ({"images": "1 001.Black_footed_Albatross/a.jpg extra\n"}, "images.txt:1: expected a line '<image id> <class folder>/<file>', got "
                                                               "'1 001.Black_footed_Albatross/a.jpg extra'"),
    ({"images": CUB_IMAGES + "3 002.Laysan_Albatross/d.jpg\n"}, "images.txt:4: image 3 is listed twice"),
    ({"images": CUB_IMAGES + "4 002.Laysan_Albatross/d.jpg\n"}, "train_test_split.txt has no line for image 4 of images.txt (line 4)"),
    ({"images": "1 003.Sooty_Albatross/a.jpg\n"}, "images.txt:1: 003.Sooty_Albatross/a.jpg is in a class folder not listed in classes.txt"),
    ({"split": "1 1\n2 yes\n3 0\n"}, "train_test_split.txt:2: image 2 is marked 'yes', expected 1 (train) or 0 (test)"),
    ({"split": "1 1\n2 1\n2 0\n"}, "train_test_split.txt:3: image 2 is listed twice"),
    ({"split": "1 1\n2 1\n3 1\n"}, "train_test_split.txt marks no image of images.txt as test (0)"),
])
def test_malformed_cub_files(tmp_path, files, message):
    folder = _cub(tmp_path, **files)
    assert format_error(lambda: build_dataset("cub", tmp_path)) == f"{folder}/{message}; extract CUB_200_2011.tgz again"


def _places(root: Path, categories: str, val: str) -> Path:
    folder = root / "places365"
    (folder / "val_256").mkdir(parents=True)
    (folder / "categories_places365.txt").write_text(categories)
    (folder / "places365_val.txt").write_text(val)
    return folder


@pytest.mark.parametrize("categories, val, message", [
    ("/a/airfield 0\n/b/bakery/shop 1\n", "v1.jpg x\n", "places365_val.txt:1: label 'x' is not a non-negative integer"),
    ("/a/airfield 0\n/b/bakery/shop 1\n", "v1.jpg 1\nv2.jpg +1\n", "places365_val.txt:2: label '+1' is not a non-negative integer"),
    ("/a/airfield 0\n/b/bakery/shop 1\n", "v1.jpg 2\n", "places365_val.txt:1: v1.jpg has label 2, outside 0..1 (categories_places365.txt)"),
    ("/a/airfield 0\n/b/bakery/shop 1\n", "v1.jpg\n", "places365_val.txt:1: expected a line '<file> <label>', got 'v1.jpg'"),
    ("/a/airfield 0\n/b/bakery/shop 1\n", "\n", "places365_val.txt lists no images"),
    ("/a/airfield 0\n/b/bakery/shop 2\n", "v1.jpg 0\n", "categories_places365.txt: labels must be 0..1 without gaps"),
    ("/a/airfield 0\n/b/bakery/shop 0\n", "v1.jpg 0\n", "categories_places365.txt:2: label 0 is given to both '/a/airfield' and '/b/bakery/shop'"),
    ("/a/airfield -1\n", "v1.jpg 0\n", "categories_places365.txt:1: label '-1' is not a non-negative integer"),
    ("", "v1.jpg 0\n", "categories_places365.txt lists no categories"),
])
def test_malformed_places_lists(tmp_path, categories, val, message):
    folder = _places(tmp_path, categories, val)
    assert format_error(lambda: build_dataset("places365", tmp_path)) == (
        f"{folder}/{message}; extract it again from filelist_places365-standard.tar")


def test_data_status_reports_a_malformed_file_and_goes_on(dtd_root):
    (dtd_root / "dtd" / DTD_FILE).write_text(json.dumps(_with("train", 1, ["zigzagged/b.jpg", "1", "zigzagged"])))
    _cub(dtd_root, split="1 1\n2 1\n3 1\n")
    report = {s.name: s for s in dataset_status(dtd_root)}
    dtd, cub = report["dtd"], report["cub"]
    assert not dtd.found and dtd.n_classes is None and dtd.missing == []
    assert dtd.fix.startswith(str(dtd_root / "dtd" / DTD_FILE)) and "train[1] has label \"1\"" in dtd.fix and dtd.fix.endswith(DTD_FIX)
    assert not cub.found and "marks no image of images.txt as test" in cub.fix
    assert all(not s.found for s in report.values())


# --- ZSBENCH_SOURCE --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["bogus", "hf"])
def test_unknown_source_in_the_environment(dtd_root, monkeypatch, value):
    monkeypatch.setenv("ZSBENCH_SOURCE", value)
    monkeypatch.setattr(catalog, "local_dataset", lambda *a: pytest.fail("read local data"))
    monkeypatch.setattr(catalog, "hub_dataset", lambda *a: pytest.fail("opened the mirror"))
    with pytest.raises(SourceError) as err:
        DATASETS.get("dtd")(dtd_root)
    assert isinstance(err.value, UserError)
    assert str(err.value) == f"ZSBENCH_SOURCE='{value}' is not a data source: use one of local, hub, auto (or unset it for local)"


def test_source_is_read_case_and_space_insensitively(dtd_root, monkeypatch):
    monkeypatch.setenv("ZSBENCH_SOURCE", " Local ")
    assert DATASETS.get("dtd")(dtd_root).source == f"local:dtd/{DTD_FILE}"


# --- images over Pillow's size limit ---------------------------------------------------------------


def test_decompression_bomb_is_a_corrupt_image_naming_the_file(dtd_root, monkeypatch):
    """An 8x8 PNG (64 pixels) is a bomb for Pillow once its limit is 10 (it refuses over 2 x 10)."""
    test = build_dataset("dtd", dtd_root).split("test")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(CorruptImageError) as err:
        test[0]
    assert isinstance(err.value, UserError) and isinstance(err.value.__cause__, Image.DecompressionBombError)
    path = dtd_root / "dtd" / "images" / "zigzagged" / "d.jpg"
    assert str(err.value).startswith(f"cannot read image {path}: it is larger than Pillow's limit of Image.MAX_IMAGE_PIXELS = 10 pixels (")
    assert str(err.value).endswith("). Resize it below that limit or remove it, then run again.")


def test_decompression_bomb_warning_as_an_error_is_caught_too(dtd_root, monkeypatch):
    test = build_dataset("dtd", dtd_root).split("test")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40)  # 64 pixels: over the limit, under twice it
    with pytest.warns(Image.DecompressionBombWarning):
        assert test.image(0).size == (8, 8)  # only a warning by default: the image is used
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(CorruptImageError, match="larger than Pillow's limit of Image.MAX_IMAGE_PIXELS = 40 pixels") as err:
            test.image(0)
    assert str(dtd_root / "dtd" / "images" / "zigzagged" / "d.jpg") in str(err.value)


# --- Hub mirrors -----------------------------------------------------------------------------------


def parquet_repo(path: Path, images: list[bytes], labels: list, names: list[str]) -> Path:
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    table = datasets.Dataset.from_dict({"image": [{"bytes": b, "path": None} for b in images], "label": labels}, features=features)
    (path / "data").mkdir(parents=True)
    table.to_parquet(str(path / "data" / "test-00000-of-00001.parquet"))
    return path


def use_mirror(monkeypatch, name: str, entry: HubEntry) -> None:
    monkeypatch.setitem(RECORDS, name, dataclasses.replace(RECORDS[name], hub=entry))


def test_decompression_bomb_in_a_mirror_names_the_row(tmp_path, monkeypatch):
    repo = parquet_repo(tmp_path / "pets", [PNG, PNG], [0, 0], ["abyssinian"])
    use_mirror(monkeypatch, "oxford-pets", HubEntry(str(repo), None, "test", "image", "label"))
    test = build_dataset("oxford-pets", source="hub").split("test")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(CorruptImageError) as err:
        test.image(1)
    assert str(err.value).startswith(f"cannot read image in row 1 of {repo}: it is larger than Pillow's limit of Image.MAX_IMAGE_PIXELS = 10")
    assert "Resize it below that limit or remove it" in str(err.value)


def test_a_mirror_split_that_does_not_exist_is_named_when_opened(tmp_path, monkeypatch):
    repo = parquet_repo(tmp_path / "dtd", [PNG], [0], ["banded"])
    use_mirror(monkeypatch, "dtd", HubEntry(str(repo), None, "validation", "image", "label"))
    assert format_error(lambda: build_dataset("dtd", source="hub")) == (
        f"Hugging Face mirror {repo} has no split 'validation'; it has ['test']; fix the split of its HubEntry")


def test_a_mirror_whose_rows_are_all_dropped(tmp_path, monkeypatch):
    repo = parquet_repo(tmp_path / "caltech", [PNG, PNG], [0, 0], ["BACKGROUND_Google", "Faces"])
    use_mirror(monkeypatch, "caltech101", HubEntry(str(repo), None, "test", "image", "label"))
    dataset = build_dataset("caltech101", source="hub")
    assert dataset.classnames == ["face"]
    assert format_error(lambda: dataset.split("test")).startswith(f"Hugging Face mirror {repo} (split 'test') has no rows of the classes kept; ")


def test_a_classnames_file_that_is_not_utf8(tmp_path, monkeypatch):
    repo = parquet_repo(tmp_path / "ucf", [PNG], [0], ["x"])
    (repo / "classnames.txt").write_bytes(b"Apply\xffEyeMakeup\n")
    use_mirror(monkeypatch, "ucf101", HubEntry(str(repo), None, "test", "image", "label", "file:classnames.txt"))
    assert format_error(lambda: build_dataset("ucf101", source="hub")) == (
        f"dataset 'ucf101': {repo / 'classnames.txt'} (the class names of {repo}) is not UTF-8 text (byte 5); "
        "clear this dataset from the Hugging Face cache and run again")
