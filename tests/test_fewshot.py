"""Few-shot sampling: CoOp/Dassl's rule reproduced index for index, determinism, per-class counts,
and the on-disk cache shared by every few-shot method."""
from __future__ import annotations

import io
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from PIL import Image

from zsbench.datasets import fewshot
from zsbench.datasets.base import Dataset, TensorSplit
from zsbench.datasets.catalog import build_dataset
from zsbench.datasets.fewshot import FewShotError, coop_fewshot_indices, fewshot_indices, fewshot_subset
from zsbench.harness.core.errors import UserError

TRAIN_LABELS = [2, 0, 1, 0, 2, 1, 0, 2, 1, 0, 0, 2, 1, 1, 2, 0]
VAL_LABELS = [1, 0, 2, 1, 0, 2, 1, 2, 0, 0]


@dataclass
class Datum:  # Dassl's Datum, reduced to what the sampling looks at
    impath: str
    label: int


def coop_longhand(train: list[Datum], val: list[Datum], num_shots: int, seed: int):
    """CoOp's few-shot split written out from its definition: Dassl's set_random_seed seeds the
    global ``random``; the dataset then calls generate_fewshot_dataset(train, num_shots) and
    generate_fewshot_dataset(val, min(num_shots, 4)); each groups by label (split_dataset_by_label, a
    defaultdict in first-appearance order) and takes random.sample(items, n), or all items if fewer."""
    state = random.getstate()
    try:
        random.seed(seed)

        def generate(items: list[Datum], n: int) -> list[Datum]:
            tracker = defaultdict(list)
            for item in items:
                tracker[item.label].append(item)
            out = []
            for _, group in tracker.items():
                out.extend(random.sample(group, n) if len(group) >= n else group)
            return out

        return generate(train, num_shots), generate(val, min(num_shots, 4))
    finally:
        random.setstate(state)


def _data(labels: list[int], prefix: str) -> list[Datum]:
    return [Datum(f"{prefix}{i}", label) for i, label in enumerate(labels)]


@pytest.mark.parametrize(
    "k, seed, train, val",
    [
        (3, 1, [4, 0, 14, 1, 9, 10, 12, 13, 2], [0, 3, 6, 9, 4, 1, 7, 5, 2]),
        (5, 2, [0, 14, 11, 4, 7, 15, 6, 10, 9, 1, 13, 2, 8, 12, 5], [0, 3, 6, 9, 8, 4, 1, 2, 5, 7]),
    ],
)
def test_pinned_case_equals_the_coop_rule(k, seed, train, val):
    assert coop_fewshot_indices(TRAIN_LABELS, VAL_LABELS, k, seed) == (train, val)
    want_train, want_val = coop_longhand(_data(TRAIN_LABELS, "t"), _data(VAL_LABELS, "v"), k, seed)
    assert [f"t{i}" for i in train] == [d.impath for d in want_train]
    assert [f"v{i}" for i in val] == [d.impath for d in want_val]


def test_sampling_leaves_the_global_random_state_alone():
    state = random.getstate()
    coop_fewshot_indices(TRAIN_LABELS, VAL_LABELS, 2, 1)
    assert random.getstate() == state


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_per_class_counts_and_determinism(k):
    train, val = coop_fewshot_indices(TRAIN_LABELS, VAL_LABELS, k, seed=7)
    assert (train, val) == coop_fewshot_indices(TRAIN_LABELS, VAL_LABELS, k, seed=7)
    for labels, chosen, shots in ((TRAIN_LABELS, train, k), (VAL_LABELS, val, min(k, 4))):
        assert len(set(chosen)) == len(chosen)
        for c in set(labels):
            assert sum(labels[i] == c for i in chosen) == min(shots, labels.count(c))
    assert coop_fewshot_indices(TRAIN_LABELS, VAL_LABELS, 2, seed=1) != coop_fewshot_indices(TRAIN_LABELS, VAL_LABELS, 2, seed=2)


@pytest.mark.parametrize("k", [0, -3])
def test_shots_below_one_are_refused(k):
    rng = random.Random(1)
    with pytest.raises(FewShotError, match=f"^--shots {k}: few-shot methods need at least 1 training image per class; use --shots 1 or more$"):
        fewshot_indices([0, 1], k, rng)
    assert rng.getstate() == random.Random(1).getstate()  # refused before any sampling


# --- through a dataset built from a Zhou split file ---------------------------------------------

CLASSES = ["banded", "zigzagged", "cracked"]


def _zhou_dtd(root: Path) -> dict:
    """A DTD tree with classes interleaved and of unequal sizes, like a real split file."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 30, 10)).save(buf, "JPEG")
    split = {}
    for name, per_class in (("train", (5, 3, 6)), ("val", (2, 5, 3)), ("test", (1, 1, 1))):
        items = [(c, i) for i in range(max(per_class)) for c in range(3) if i < per_class[c]]
        split[name] = [[f"{CLASSES[c]}/{name}_{i}.jpg", c, CLASSES[c]] for c, i in items]
    folder = root / "dtd"
    for records in split.values():
        for relpath, _, _ in records:
            (folder / "images" / relpath).parent.mkdir(parents=True, exist_ok=True)
            (folder / "images" / relpath).write_bytes(buf.getvalue())
    (folder / "split_zhou_DescribableTextures.json").write_text(json.dumps(split))
    return split


@pytest.fixture
def dtd(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ZSBENCH_SOURCE", raising=False)
    split = _zhou_dtd(tmp_path / "data")
    return build_dataset("dtd", tmp_path / "data"), split, tmp_path / "data" / "dtd" / "images"


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 4, 6])  # 4 and 6: CoOp takes the whole of the smaller classes
def test_subset_of_a_zhou_split_is_coops(dtd, k, seed):
    dataset, split, images = dtd
    subset = fewshot_subset(dataset, k, seed)
    want_train, want_val = coop_longhand(
        [Datum(str(images / r), label) for r, label, _ in split["train"]],
        [Datum(str(images / r), label) for r, label, _ in split["val"]],
        k,
        seed,
    )
    assert [str(subset.train.parent.paths[i]) for i in subset.train.indices] == [d.impath for d in want_train]
    assert [str(subset.val.parent.paths[i]) for i in subset.val.indices] == [d.impath for d in want_val]
    assert subset.train.labels.tolist() == [d.label for d in want_train]
    assert (subset.dataset, subset.k, subset.seed) == ("dtd", k, seed)
    assert len(subset.train) == sum(min(k, n) for n in (5, 3, 6))  # the training images actually drawn


def test_subset_is_cached_and_reused(dtd, tmp_path, monkeypatch):
    dataset, _, _ = dtd
    first = fewshot_subset(dataset, 2, 1)
    files = list((tmp_path / "cache" / "fewshot" / "dtd").rglob("*"))
    cached = [f for f in files if f.is_file()]
    assert [f.name for f in cached] == ["shot_2-seed_1.json"]  # and no temporary file left behind
    record = json.loads(cached[0].read_text())
    assert record["train"] == first.train.indices and record["val"] == first.val.indices
    assert record["train_fingerprint"] == first.train.parent.fingerprint

    def refuse(*args):
        raise AssertionError("sampled again instead of reading the cache")

    monkeypatch.setattr(fewshot, "coop_fewshot_indices", refuse)
    again = fewshot_subset(dataset, 2, 1)
    assert again.train.indices == first.train.indices and again.train.fingerprint == first.train.fingerprint


def test_a_corrupt_cache_file_is_replaced(dtd, tmp_path):
    dataset, _, _ = dtd
    first = fewshot_subset(dataset, 2, 3)
    path = fewshot.cache_path("dtd", first.train.parent, first.val.parent, 2, 3, tmp_path / "cache")
    path.write_text("{not json")
    assert fewshot_subset(dataset, 2, 3).train.indices == first.train.indices
    assert json.loads(path.read_text())["train"] == first.train.indices


def test_cache_key_follows_the_split_data(dtd, tmp_path):
    dataset, _, _ = dtd
    train, val = dataset.split("train"), dataset.split("val")
    assert fewshot.cache_path("dtd", train, val, 2, 1) != fewshot.cache_path("dtd", train.subset([0, 1, 2]), val, 2, 1)
    assert fewshot.cache_path("dtd", train, val, 2, 1).parent == fewshot.cache_path("dtd", train, val, 4, 2).parent


def test_a_dataset_without_training_data_names_where_to_train(tmp_path, monkeypatch):
    monkeypatch.delenv("ZSBENCH_SOURCE", raising=False)
    folder = tmp_path / "imagenet-adversarial" / "imagenet-a"
    from zsbench.datasets import imagenet

    for wnid in imagenet.wnids("imagenet-a"):
        (folder / wnid).mkdir(parents=True)
    dataset = build_dataset("imagenet-a", tmp_path)
    with pytest.raises(FewShotError, match="^dataset 'imagenet-a' has no training split to draw --shots 2 from; few-shot methods train on 'imagenet' for it$"):
        fewshot_subset(dataset, 2, 1, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


# --- K that cannot be drawn ----------------------------------------------------------------------


@pytest.mark.parametrize("k", [7, 100000])
def test_shots_above_every_class_are_refused_before_sampling(dtd, tmp_path, monkeypatch, k):
    """DTD's fixture classes have 5, 3 and 6 training images: CoOp's sampler would silently take all
    14 and the row would still say K-shot."""
    dataset, _, _ = dtd

    def refuse(*args):
        raise AssertionError("sampled although K cannot be drawn")

    monkeypatch.setattr(fewshot, "coop_fewshot_indices", refuse)
    with pytest.raises(FewShotError) as err:
        fewshot_subset(dataset, k, 1)
    assert isinstance(err.value, UserError)
    assert str(err.value) == (f"--shots {k}: no class of dtd has that many training images (the largest has 6); "
                              "use --shots 6 or fewer")
    assert not (tmp_path / "cache" / "fewshot").exists()  # nothing cached


def test_a_stale_cache_entry_for_an_undrawable_k_is_not_used(dtd, tmp_path):
    """The check comes before the cache: a cache file for K=100000 (written before K was checked)
    does not turn the typo back into a run."""
    dataset, _, _ = dtd
    train, val = dataset.split("train"), dataset.split("val")
    path = fewshot.cache_path("dtd", train, val, 100000, 1)
    fewshot._write_cache(path, train, val, coop_fewshot_indices(train.labels.tolist(), val.labels.tolist(), 100000, 1))
    with pytest.raises(FewShotError, match="--shots 100000"):
        fewshot_subset(dataset, 100000, 1)


def test_an_empty_training_split_is_refused(tmp_path):
    empty = TensorSplit(torch.zeros(0, 3, 4, 4, dtype=torch.uint8), [], "empty/train", "train")
    dataset = Dataset("empty", ["a"], ["{}"], ["{}"], {"train": lambda: empty}, "test", val_split=None)
    with pytest.raises(FewShotError, match="^dataset 'empty': its training split 'train' has no images to draw --shots 1 from$"):
        fewshot_subset(dataset, 1, 1, tmp_path / "cache")


# --- a damaged cache is a miss -------------------------------------------------------------------


def _cached_record(dataset, k: int, seed: int, cache_dir: Path) -> tuple[Path, dict]:
    first = fewshot_subset(dataset, k, seed)
    path = fewshot.cache_path("dtd", first.train.parent, first.val.parent, k, seed, cache_dir)
    return path, json.loads(path.read_text())


BAD_RECORDS = {
    "a list": lambda rec: [rec["train"], rec["val"]],
    "a number": lambda rec: 3,
    "null": lambda rec: None,
    "train missing": lambda rec: {k: v for k, v in rec.items() if k != "train"},
    "val missing": lambda rec: {k: v for k, v in rec.items() if k != "val"},
    "train not a list": lambda rec: {**rec, "train": "0,1,2"},
    "train of strings": lambda rec: {**rec, "train": [str(i) for i in rec["train"]]},
    "train of floats": lambda rec: {**rec, "train": [i + 0.5 for i in rec["train"]]},
    "train of booleans": lambda rec: {**rec, "train": [True] * len(rec["train"])},
    "train index out of range": lambda rec: {**rec, "train": [*rec["train"][:-1], 14]},
    "negative train index": lambda rec: {**rec, "train": [*rec["train"][:-1], -1]},
    "repeated train index": lambda rec: {**rec, "train": [rec["train"][0]] * len(rec["train"])},
    "empty train": lambda rec: {**rec, "train": []},
    "val of the wrong type": lambda rec: {**rec, "val": {"0": 1}},
    "val null for a split with val": lambda rec: {**rec, "val": None},
    "val index out of range": lambda rec: {**rec, "val": [*rec["val"][:-1], 10]},
    "fingerprint not a string": lambda rec: {**rec, "train_fingerprint": [rec["train_fingerprint"]]},
}


@pytest.mark.parametrize("damage", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_a_malformed_cache_entry_is_sampled_again_and_overwritten(dtd, tmp_path, damage):
    dataset, _, _ = dtd
    path, record = _cached_record(dataset, 2, 5, tmp_path / "cache")
    path.write_text(json.dumps(damage(record)))
    again = fewshot_subset(dataset, 2, 5)
    assert again.train.indices == record["train"] and again.val.indices == record["val"]
    assert json.loads(path.read_text()) == record  # the damaged entry was replaced


def test_a_cache_file_that_is_not_utf8_is_a_miss(dtd, tmp_path):
    dataset, _, _ = dtd
    path, record = _cached_record(dataset, 1, 4, tmp_path / "cache")
    path.write_bytes(b"\xff\xfe{")
    assert fewshot_subset(dataset, 1, 4).train.indices == record["train"]
    assert json.loads(path.read_text()) == record
