"""Description sources (named public files cached on disk, paths, the toy world), matching class
names to a file's keys, the real description files in ../shared/reference (skipped when absent), and
the description baselines clip-d, cupl and waffle."""
from __future__ import annotations

import hashlib
import json
import shutil
import urllib.error
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from zsbench.datasets import imagenet, naming
from zsbench.datasets.base import Dataset
from zsbench.harness.registry import DATASETS
from zsbench.harness.text_encoding import TextEncoder
from zsbench.methods import descriptions as desc
from zsbench.methods.base import MethodInputs
from zsbench.methods.description_baselines import CuPL, DCLIP, WaffleCLIP, waffle_descriptors

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "descriptions"
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"reference description files not found at {REFERENCE}")


def _dataset(name: str, classnames: list[str], imagenet_indices=None) -> Dataset:
    return Dataset(name, list(classnames), ["a photo of a {}."], ["a photo of a {}."], {}, "test", imagenet_indices=imagenet_indices)


def _reference_copy(remote: desc.RemoteFile) -> Path:
    """The shared offline copy of a source-table entry (see ../shared/reference/README.md)."""
    folder, _, rest = remote.cache_name.partition("/")
    if folder.startswith("CuPL-"):
        return REFERENCE / "cupl-repo" / rest
    sub, _, name = rest.partition("/")
    return REFERENCE / "abs-repo" / f"{sub}__{name}"


def _seed_cache(remote: desc.RemoteFile) -> None:
    """Put the offline copy where a download would have put it (a temporary cache, never the repo)."""
    target = desc.cache_path(remote)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_reference_copy(remote), target)


# --------------------------------------------------------------------------------------------------
# matching


def test_match_exact_normalised_alias_and_qualified():
    data = {"Black-footed Albatross": ["a"], "Brewer's Blackbird": ["b"], "arena": ["c"], "lake or sea": ["d"], "tench": ["e"]}
    remote = desc.RemoteFile("u", "", "x", aliases=(("Sea or Lake", "lake or sea"),), qualified_names=True)
    space = desc.LabelSpace(["tench", "Black footed Albatross", "Brewer Blackbird", "hockey arena", "Sea or Lake"])
    assert desc.match(data, space, "f.json", remote) == [["e"], ["a"], ["b"], ["c"], ["d"]]
    with pytest.raises(desc.DescriptionsError, match="hockey arena"):
        desc.match(data, space, "f.json", desc.RemoteFile("u", "", "x", aliases=remote.aliases))


def test_match_by_position_when_the_file_lists_the_whole_label_space():
    names = [f"class {i}" for i in range(20)]
    keys = list(names)
    keys[3], keys[7] = "old name three", "class 8 (alt)"  # 18 of 20 agree: the file is in label order
    data = {k: [f"d{i}"] for i, k in enumerate(keys)}
    got = desc.match(data, desc.LabelSpace(names), "f.json")
    assert got[3] == ["d3"] and got[7] == ["d7"] and got[8] == ["d8"]
    # a subset of the label space (ImageNet-A style) picks its positions
    picked = [3] + list(range(8, 20))
    sub = desc.LabelSpace([names[i] for i in picked], positions=picked, size=20)
    assert desc.match(data, sub, "f.json") == [[f"d{i}"] for i in picked]


def test_missing_classes_error_names_file_and_classes():
    with pytest.raises(desc.DescriptionsError) as err:
        desc.match({"cat": ["x"], "dog": ["y"]}, desc.LabelSpace(["cat", "zebra", "yak"]), "/data/desc.json")
    msg = str(err.value)
    assert "/data/desc.json" in msg and "'zebra'" in msg and "'yak'" in msg and "2 of 3 classes" in msg and "--set descriptions=PATH" in msg
    with pytest.raises(desc.DescriptionsError, match="empty description list for classes 'cat'"):
        desc.match({"cat": [], "dog": ["y"]}, desc.LabelSpace(["cat", "dog"]), "f.json")


def test_read_json_errors(tmp_path):
    (tmp_path / "templates.json").write_text(json.dumps(["a photo of a {}."]))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(desc.DescriptionsError, match="holds a list"):
        desc.read_json(tmp_path / "templates.json")
    with pytest.raises(desc.DescriptionsError, match="not valid JSON"):
        desc.read_json(tmp_path / "bad.json")
    with pytest.raises(desc.DescriptionsError, match="no such file"):
        desc.read_json(tmp_path / "missing.json")


def test_path_and_dataset_sources(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"cat": ["a cat is small."], "dog": ["a dog barks.", "a dog runs."]}))
    ds = _dataset("pets-mini", ["dog", "cat"])
    got = desc.load(str(path), ds)
    assert got.per_class == [["a dog barks.", "a dog runs."], ["a cat is small."]] and got["cat"] == ["a cat is small."]
    with pytest.raises(desc.DescriptionsError, match="has no descriptions of its own"):
        desc.load("dataset", ds)
    with pytest.raises(desc.DescriptionsError, match="unknown description source"):
        desc.load("gpt5", ds)
    with pytest.raises(desc.DescriptionsError, match="has no file for dataset 'pets-mini'"):
        desc.load("cupl", ds)


# --------------------------------------------------------------------------------------------------
# download and cache


def test_fetch_downloads_once_atomically_and_checks_the_hash(tmp_path):
    src = tmp_path / "upstream.json"
    payload = json.dumps({"cat": ["a cat."]}).encode()
    src.write_bytes(payload)
    remote = desc.RemoteFile(src.as_uri(), hashlib.sha256(payload).hexdigest(), "test-src/upstream.json")
    path = desc.fetch(remote)
    assert path == desc.cache_path(remote) and path.read_bytes() == payload
    assert [p.name for p in path.parent.iterdir()] == ["upstream.json"]  # no temp files left
    src.unlink()
    assert desc.fetch(remote) == path  # served from the cache
    bad = desc.RemoteFile((tmp_path / "other.json").as_uri(), "0" * 64, "test-src/other.json")
    (tmp_path / "other.json").write_bytes(payload)
    with pytest.raises(desc.DescriptionsError, match="expected 0000"):
        desc.fetch(bad)
    assert not desc.cache_path(bad).exists()


def test_offline_named_source_error_names_url_and_cache_path(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(desc.urllib.request, "urlopen", offline)
    ds = _dataset("dtd", ["banded", "blotchy"])
    with pytest.raises(desc.DescriptionsError) as err:
        desc.load("cupl", ds)
    msg = str(err.value)
    assert "https://raw.githubusercontent.com/BIT-DA/ABS/" in msg and str(desc.cache_path(desc.SOURCES["cupl"]["dtd"])) in msg
    assert "--set descriptions=PATH" in msg


# --------------------------------------------------------------------------------------------------
# the toy world


def test_toy_world_answers_the_named_sources():
    from zsbench.datasets.toy import text as toy_text

    ds = DATASETS.get("toy-fine")(None)
    cupl = desc.load("cupl", ds)
    assert cupl.per_class == [toy_text.descriptions(ds.classnames)[c] for c in ds.classnames]
    dclip = desc.load("dclip", ds)
    assert dclip["six-pointed star"] == ["six points", "pointed tips", "sharp points"]
    assert desc.load("dataset", ds).per_class == cupl.per_class


# --------------------------------------------------------------------------------------------------
# the real files (offline copies)


@needs_reference
def test_source_table_hashes_match_the_reference_copies():
    for source, table in desc.SOURCES.items():
        for dataset, remote in table.items():
            copy = _reference_copy(remote)
            assert copy.is_file(), (source, dataset, copy)
            assert hashlib.sha256(copy.read_bytes()).hexdigest() == remote.sha256, (source, dataset)


@needs_reference
def test_every_reference_description_file_loads_and_templates_are_refused():
    for path in sorted((REFERENCE / "abs-repo").glob("*.json")) + sorted((REFERENCE / "cupl-repo").glob("*.json")):
        if path.name.endswith("__clip-e.json"):
            with pytest.raises(desc.DescriptionsError, match="holds a list"):
                desc.read_json(path)
        else:
            data = desc.read_json(path)
            assert data and all(isinstance(v, list) for v in data.values()), path


@needs_reference
def test_cupl_imagenet_covers_all_1000_classes():
    names = list(imagenet.classnames())
    _seed_cache(desc.SOURCES["cupl"]["imagenet"])
    got = desc.load("cupl", _dataset("imagenet", names))
    assert len(got.per_class) == 1000 and {len(s) for s in got.per_class} == {30}
    dup = [i for i, n in enumerate(names) if n == "sunglasses"]
    assert len(dup) == 2 and got.per_class[dup[0]] == got.per_class[dup[1]]  # one key for both, as in the reference
    assert got.per_class[0][0].lower().startswith("a") and "tench" in " ".join(got.per_class[0]).lower()


@needs_reference
def test_dclip_imagenet_is_matched_by_position():
    names = list(imagenet.classnames())
    _seed_cache(desc.SOURCES["dclip"]["imagenet"])
    raw = json.loads(_reference_copy(desc.SOURCES["dclip"]["imagenet"]).read_text())
    got = desc.load("dclip", _dataset("imagenet", names))
    assert names[27] == "newt" and got.per_class[27] == raw["eft"]  # DCLIP's name for class 27
    assert names[836] == names[837] == "sunglasses" and got.per_class[836] == raw["sunglass"] != got.per_class[837]


@needs_reference
def test_imagenet_a_uses_its_200_positions_and_abs_scores_all_1000():
    from zsbench.methods.abs import ABS

    _, names, indices = imagenet.label_space("imagenet-a")
    ds = _dataset("imagenet-a", names, indices)
    for source in ("cupl", "dclip"):
        _seed_cache(desc.SOURCES[source]["imagenet-a"])
    full = desc.load("dclip", _dataset("imagenet", list(imagenet.classnames())))
    sub = desc.load("dclip", ds)
    assert sub.per_class == [full.per_class[i] for i in indices]
    abs_desc = ABS().load_descriptions(ds)
    assert len(abs_desc.per_class) == 1000
    assert len(ABS(ABS.Config(faithful=False)).load_descriptions(ds).per_class) == 200


@needs_reference
def test_coop_names_of_eurosat_places_and_cub_find_their_entries():
    eurosat = [naming.eurosat(n) for n in naming.EUROSAT_RENAMED]
    for source in ("cupl", "dclip"):
        _seed_cache(desc.SOURCES[source]["eurosat"])
        got = desc.load(source, _dataset("eurosat", eurosat))
        assert len(got.per_class) == 10
    raw = desc.read_json(_reference_copy(desc.SOURCES["cupl"]["eurosat"]))
    assert desc.load("cupl", _dataset("eurosat", eurosat))["Sea or Lake"] == raw["lake or sea"]

    places = [naming.scene(n) for n in ("/a/arena/hockey", "/c/church/outdoor", "/a/airfield", "/i/ice_skating_rink/indoor")]
    assert places == ["hockey arena", "outdoor church", "airfield", "indoor ice skating rink"]
    _seed_cache(desc.SOURCES["cupl"]["places365"])
    got = desc.load("cupl", _dataset("places365", places))
    raw = desc.read_json(_reference_copy(desc.SOURCES["cupl"]["places365"]))
    assert got.per_class == [raw["arena"], raw["church"], raw["airfield"], raw["ice skating rink"]]

    cub = [naming.cub(n) for n in ("001.Black_footed_Albatross", "009.Brewer_Blackbird", "021.Chuck_will_Widow", "067.Anna_Hummingbird")]
    _seed_cache(desc.SOURCES["cupl"]["cub"])
    got = desc.load("cupl", _dataset("cub", cub))
    raw = desc.read_json(_reference_copy(desc.SOURCES["cupl"]["cub"]))
    assert got.per_class == [raw["Black-footed Albatross"], raw["Brewer Blackbird"], raw["Chuck-will Widow"], raw["Anna Hummingbird"]]


@needs_reference
@torch.no_grad()
def test_abs_takes_the_first_50_cupl_sentences(toy_model):
    from zsbench.methods.abs import ABS

    remote = desc.SOURCES["cupl"]["dtd"]
    raw = desc.read_json(_reference_copy(remote))
    classes = list(raw)[:4]  # DTD classes have 50 to 54 sentences
    ds = _dataset("dtd", classes)
    _seed_cache(remote)
    method = ABS()
    enc = TextEncoder(toy_model)
    inputs = MethodInputs(dataset=ds, model=toy_model, text=enc, seed=1, shots=0, descriptions=method.load_descriptions(ds))
    method.fit(inputs)
    assert method.text.shape == (4, 50, 128) and bool(method.valid.all())
    assert torch.allclose(method.text[2], enc.encode(raw[classes[2]][:50]), atol=1e-6)


# --------------------------------------------------------------------------------------------------
# the description baselines


def test_dclip_sentence_rule():
    assert desc.descriptor_sentence("a long tail") == "which is a long tail"
    assert desc.descriptor_sentence("angular wings") == "which is angular wings"  # DCLIP's startswith('a') quirk
    assert desc.descriptor_sentence("has four legs") == "which has four legs"
    assert desc.descriptor_sentence("often found in water") == "which often found in water"
    assert desc.descriptor_sentence("used for cutting") == "which is used for cutting"
    assert desc.descriptor_sentence("four sides") == "which has four sides"


def _inputs(toy_model, dataset, method, seed=0):
    inputs = MethodInputs(dataset=dataset, model=toy_model, text=TextEncoder(toy_model), seed=seed, shots=0)
    inputs.descriptions = method.load_descriptions(dataset)
    return inputs


@torch.no_grad()
def test_clip_d_and_cupl_weights_are_renormalised_means(toy_model):
    ds = DATASETS.get("toy-fine")(None)
    clipd = DCLIP()
    inputs = _inputs(toy_model, ds, clipd)
    prompts = clipd.class_prompts(inputs)
    assert prompts[0] == ["four-pointed star, which has four points", "four-pointed star, which has pointed tips",
                          "four-pointed star, which has sharp points"]
    clipd.fit(inputs)
    enc = TextEncoder(toy_model)
    assert torch.allclose(clipd.weights[0], F.normalize(enc.encode(prompts[0]).mean(0), dim=-1), atol=1e-6)

    cupl = CuPL()
    inputs = _inputs(toy_model, ds, cupl)
    cupl.fit(inputs)
    sentences = inputs.descriptions["six-pointed star"]
    assert torch.allclose(cupl.weights[2], F.normalize(enc.encode(sentences).mean(0), dim=-1), atol=1e-6)
    feats = F.normalize(torch.randn(4, 128), dim=-1)
    assert torch.allclose(cupl.logits_from_features(feats), 100 * feats @ cupl.weights.T)


def test_waffle_descriptors_shape_and_seeding():
    import random

    classes = ["great white shark", "tench", "goldfinch"]
    descriptors = ["a grey body, with fins.", "small-ish (x2)"]
    out = waffle_descriptors(classes, descriptors, 15, random.Random(1))
    words, noise = out[0::2], out[1::2]
    assert len(out) == 30
    # words: round(mean #words) = round(5/3) = 2 words, cut to round(mean word length) = round(19/3) = 6 letters
    assert all(len(w.split(" ")) == 2 and all(len(x) <= 6 for x in w.split(" ")) for w in words)
    # characters: round(2/3) + 1 = 2 groups; ceil(mean longest word) = ceil(19/3) = 7 -> 7 + 2 - 7 % 2 = 8 chars
    assert all(len(n.split(", ")) == 2 and all(len(g) == 4 for g in n.split(", ")) for n in noise)
    allowed = set("agreybodywithfinssmall-ishx2()")
    assert set("".join(n.replace(", ", "") for n in noise)) <= allowed
    assert out == waffle_descriptors(classes, descriptors, 15, random.Random(1))
    assert out != waffle_descriptors(classes, descriptors, 15, random.Random(2))


def test_waffle_prompts_are_shared_across_classes_and_seeded(toy_model):
    ds = DATASETS.get("toy")(None)
    waffle = WaffleCLIP()
    prompts = waffle.class_prompts(_inputs(toy_model, ds, waffle, seed=1))
    assert len(prompts) == 12 and all(len(p) == 30 for p in prompts)
    assert prompts[0][0].startswith("A photo of a circle, which") and prompts[0][0].endswith(".")
    assert [p.replace("square", "circle") for p in prompts[1]] == prompts[0]  # the same noise for every class
    again = WaffleCLIP().class_prompts(_inputs(toy_model, ds, waffle, seed=1))
    other = WaffleCLIP().class_prompts(_inputs(toy_model, ds, waffle, seed=2))
    assert again == prompts and other != prompts
    unshared = WaffleCLIP(WaffleCLIP.Config(shared=False, descriptions="none"))
    p = unshared.class_prompts(_inputs(toy_model, ds, unshared, seed=1))
    assert [x.replace("square", "circle") for x in p[1]] != p[0]
