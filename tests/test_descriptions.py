"""Description sources (named public files cached on disk, paths, the toy world), the source table
against the pinned CuPL and ABS trees (tests/fixtures/trees), matching class names to a file's keys,
the real description files in ../shared/reference (skipped when absent), and the description
baselines clip-d, cupl and waffle."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
import urllib.error
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from zsbench.datasets import description_files
from zsbench.datasets import descriptions as desc
from zsbench.datasets import imagenet, naming
from zsbench.datasets.base import Dataset
from zsbench.datasets.records import IMAGENET_FAMILY
from zsbench.harness.core import downloads
from zsbench.harness.core.errors import UserError
from zsbench.harness.core.hashing import git_blob_sha1
from zsbench.harness.core.registry import DATASETS
from zsbench.harness.models.text_encoding import TextEncoder
from zsbench.methods.descriptions import descriptor_sentence
from zsbench.methods.base import MethodInputs
from zsbench.methods.description_baselines import CuPL, DCLIP, WaffleCLIP, waffle_descriptors

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "descriptions"
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"reference description files not found at {REFERENCE}")
TREES = Path(__file__).resolve().parent / "fixtures" / "trees"  # `git ls-tree -r --long` of the pinned commits
CUPL_IMAGE_PROMPTS_BLOB = "b5796c20e12c7448a9d78147fc9869b421d908d7"  # imagenet_prompts/CuPL_image_prompts.json


def _dataset(name: str, classnames: list[str], imagenet_indices=None) -> Dataset:
    return Dataset(name, list(classnames), ["a photo of a {}."], ["a photo of a {}."], {}, "test", imagenet_indices=imagenet_indices)


def _remote(**kw) -> desc.RemoteFile:
    return desc.RemoteFile("u", "sha256:" + "0" * 64, "x", **kw)


def _repo_path(remote: desc.RemoteFile) -> tuple[str, str]:
    """(tree fixture, path in that tree) of a source-table URL, which must be at the pinned commit."""
    for raw, tree in ((description_files.CUPL_RAW, "CuPL-719619c.txt"), (description_files.ABS_RAW, "ABS-5ba77c6.txt")):
        if remote.url.startswith(raw + "/"):
            return tree, remote.url[len(raw) + 1:]
    raise AssertionError(f"{remote.url} is not at the pinned CuPL or ABS commit")


def _tree(name: str) -> dict[str, str]:
    """path -> git blob id of a committed tree listing (mode, type, blob id, size, then a tab and the path)."""
    out = {}
    for line in (TREES / name).read_text().splitlines():
        meta, path = line.split("\t", 1)
        mode, kind, blob, size = meta.split()
        out[path] = blob
    return out


def _reference_copy(remote: desc.RemoteFile) -> Path:
    """The shared offline copy of a source-table entry (see ../shared/reference/README.md): ABS files
    renamed <dataset>__<file>.json, CuPL files by basename."""
    tree, path = _repo_path(remote)
    if tree.startswith("CuPL"):
        return REFERENCE / "cupl-repo" / Path(path).name
    _, folder, name = path.split("/")
    return REFERENCE / "abs-repo" / f"{folder}__{name}"


def _seed_cache(remote: desc.RemoteFile) -> None:
    """Put the offline copy where a download would have put it (a temporary cache, never the repo)."""
    target = desc.cache_path(remote)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_reference_copy(remote), target)


def _synthetic_imagenet_cupl(monkeypatch) -> dict[str, list[str]]:
    """A stand-in for CuPL's CuPL_image_prompts.json (no local copy exists): keyed, as the real file
    is, by CLIP's cleaned ImageNet names, so the duplicated names collapse to one key each. It is
    seeded where a download would put it and the ImageNet-family `cupl` entries are pinned to its
    blob id, so loading goes through the real table entry, cache path and checksum check."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    data: dict[str, list[str]] = {}
    for i, name in enumerate(IMAGENET_CLASSNAMES):
        data[name] = [f"A photo of a {name}.", f"Class {i}: a {name} seen up close."]
    payload = json.dumps(data, indent=4).encode()
    remote = dataclasses.replace(desc.SOURCES["cupl"]["imagenet"], checksum=f"git-blob:{git_blob_sha1(payload)}")
    for name in IMAGENET_FAMILY:
        monkeypatch.setitem(desc.SOURCES["cupl"], name, remote)
    target = desc.cache_path(remote)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(payload)
    return data


# --------------------------------------------------------------------------------------------------
# matching


def test_match_exact_normalised_alias_and_qualified():
    data = {"Black-footed Albatross": ["a"], "Brewer's Blackbird": ["b"], "arena": ["c"], "lake or sea": ["d"], "tench": ["e"]}
    remote = _remote(aliases=(("Sea or Lake", "lake or sea"),), qualified_names=True)
    space = desc.LabelSpace(["tench", "Black footed Albatross", "Brewer Blackbird", "hockey arena", "Sea or Lake"])
    assert desc.match(data, space, "f.json", remote) == [["e"], ["a"], ["b"], ["c"], ["d"]]
    with pytest.raises(desc.DescriptionsError, match="hockey arena"):
        desc.match(data, space, "f.json", _remote(aliases=remote.aliases))


def test_match_keys_worded_with_the_qualifier_or_year_last():
    """CuPL's SUN397 and Stanford Cars keys put the qualifier / year last; CoOp's names put it first."""
    data = {"apse (indoor)": ["a"], "apse (outdoor)": ["b"], "Tesla Model S Sedan 2012": ["c"], "abbey": ["d"],
            "outdoor apse": ["e"]}
    space = desc.LabelSpace(["indoor apse", "2012 Tesla Model S Sedan", "abbey", "outdoor apse"])
    assert desc.match(data, space, "f.json") == [["a"], ["c"], ["d"], ["e"]]  # a real key wins over a rewording


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


def test_a_list_of_only_blank_sentences_is_an_error_naming_file_and_classes():
    data = {"cat": ["", "   "], "dog": ["a dog barks."], "yak": ["\n\t"], "emu": ["", "an emu runs."]}
    with pytest.raises(desc.DescriptionsError) as err:
        desc.match(data, desc.LabelSpace(["cat", "dog", "yak", "emu"]), "/data/desc.json")
    msg = str(err.value)
    assert "/data/desc.json" in msg and "'cat'" in msg and "'yak'" in msg and "'dog'" not in msg and "'emu'" not in msg
    assert "--set descriptions=PATH" in msg
    # a list with one real sentence is kept exactly as the file has it
    assert desc.match(data, desc.LabelSpace(["emu", "dog"]), "f.json") == [["", "an emu runs."], ["a dog barks."]]


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
    with pytest.raises(desc.DescriptionsError, match=r"has no file for dataset 'eurosat'.*descriptions=cupl\|dclip"):
        desc.load("cupl-base", _dataset("eurosat", ["Forest"]))


# --------------------------------------------------------------------------------------------------
# download and cache


def test_fetch_downloads_once_atomically_and_checks_the_hash(tmp_path):
    src = tmp_path / "upstream.json"
    payload = json.dumps({"cat": ["a cat."]}).encode()
    src.write_bytes(payload)
    remote = desc.RemoteFile(src.as_uri(), "sha256:" + hashlib.sha256(payload).hexdigest(), "test-src/upstream.json")
    path = desc.fetch(remote)
    assert path == desc.cache_path(remote) and path.read_bytes() == payload
    assert [p.name for p in path.parent.iterdir()] == ["upstream.json"]  # no temp files left
    src.unlink()
    assert desc.fetch(remote) == path  # served from the cache
    bad = desc.RemoteFile((tmp_path / "other.json").as_uri(), "sha256:" + "0" * 64, "test-src/other.json")
    (tmp_path / "other.json").write_bytes(payload)
    with pytest.raises(desc.DescriptionsError, match="expected sha256:0000") as err:
        desc.fetch(bad)
    assert isinstance(err.value, downloads.DownloadError) and isinstance(err.value, UserError)
    assert not desc.cache_path(bad).exists()
    # a git-blob checksum (the id the pinned tree lists) is accepted as well
    blob = desc.RemoteFile((tmp_path / "other.json").as_uri(), f"git-blob:{git_blob_sha1(payload)}", "test-src/blob.json")
    assert desc.fetch(blob).read_bytes() == payload


def test_named_sources_are_fetched_by_the_shared_downloader_into_cache_downloads(tmp_path, monkeypatch):
    """One cache for every pinned file: <cache>/downloads/<repo>-<commit>/<path in the repo>."""
    cache = tmp_path / "zs-cache"
    monkeypatch.setenv("ZSBENCH_CACHE", str(cache))
    base = desc.SOURCES["cupl-base"]["dtd"]
    assert desc.cache_path(base) == cache / "downloads" / "CuPL-719619c" / "all_prompts" / "base_prompts" / "texture_prompts_base.json"
    assert desc.cache_path(desc.SOURCES["cupl"]["dtd"]) == cache / "downloads" / "ABS-5ba77c6" / "dtd" / "cupl.json"
    payload = json.dumps({"banded": ["stripes."], "blotchy": ["blotches."]}).encode()
    pinned = dataclasses.replace(base, checksum=f"sha256:{hashlib.sha256(payload).hexdigest()}")
    monkeypatch.setitem(desc.SOURCES["cupl-base"], "dtd", pinned)
    seen = []

    def download(url, timeout=None):
        seen.append(url)
        return io.BytesIO(payload)  # what the downloader uses of a response: a context manager with read()

    monkeypatch.setattr(downloads.urllib.request, "urlopen", download)
    got = desc.load("cupl-base", _dataset("dtd", ["blotchy", "banded"]))
    assert got.per_class == [["blotches."], ["stripes."]] and seen == [base.url]
    assert desc.cache_path(pinned).read_bytes() == payload
    desc.load("cupl-base", _dataset("dtd", ["banded"]))
    assert seen == [base.url]  # the verified cached copy is reused


def test_offline_named_source_error_names_url_and_cache_path(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(downloads.urllib.request, "urlopen", offline)
    ds = _dataset("dtd", ["banded", "blotchy"])
    with pytest.raises(desc.DescriptionsError) as err:
        desc.load("cupl", ds)
    msg = str(err.value)
    assert "https://raw.githubusercontent.com/BIT-DA/ABS/" in msg and str(desc.cache_path(desc.SOURCES["cupl"]["dtd"])) in msg
    assert "--set descriptions=PATH" in msg
    with pytest.raises(desc.DescriptionsError) as err:
        desc.load("cupl", _dataset("imagenet", list(imagenet.classnames())))
    msg = str(err.value)
    path = Path(downloads.cache_path(desc.SOURCES["cupl"]["imagenet"]))
    assert path.parts[-4:] == ("downloads", "CuPL-719619c", "imagenet_prompts", "CuPL_image_prompts.json") and str(path) in msg
    assert f"sarahpratt/CuPL/{description_files.CUPL_COMMIT}/imagenet_prompts/CuPL_image_prompts.json" in msg and "--set descriptions=PATH" in msg


# --------------------------------------------------------------------------------------------------
# the source table against the pinned trees

TABLE = [(source, dataset, remote) for source, table in desc.SOURCES.items() for dataset, remote in table.items()]


def test_the_named_sources():
    assert list(desc.SOURCES) == ["cupl", "cupl-base", "cupl-full", "dclip"]
    for name in IMAGENET_FAMILY:
        assert desc.SOURCES["cupl-base"][name].url.endswith("/all_prompts/base_prompts/imagenet_prompts_base.json")
        assert desc.SOURCES["cupl-full"][name].url.endswith("/all_prompts/full_prompts/imagenet_prompts_full.json")
    for dataset, remote in desc.SOURCES["cupl"].items():  # ABS's own file where it ships one, else CuPL's full set
        if dataset not in IMAGENET_FAMILY and not remote.url.startswith(description_files.ABS_RAW):
            assert remote == desc.SOURCES["cupl-full"][dataset], dataset


@pytest.mark.parametrize("source,dataset,remote", TABLE, ids=[f"{s}-{d}" for s, d, _ in TABLE])
def test_source_urls_exist_in_the_pinned_trees_and_checksums_agree(source, dataset, remote):
    tree_name, path = _repo_path(remote)
    tree = _tree(tree_name)
    assert path in tree, f"{source}/{dataset}: {path} is not in the tree of {tree_name} ({remote.url} would 404)"
    assert remote.cache_name.endswith(Path(path).name)
    kind, _, digest = remote.checksum.partition(":")
    if kind == "git-blob":
        assert digest == tree[path], (source, dataset)
        return
    assert kind == "sha256"
    copy = _reference_copy(remote)
    if not copy.is_file():
        pytest.skip(f"no shared copy at {copy} to check the sha256 against the tree")
    data = copy.read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest, (source, dataset, copy)
    assert git_blob_sha1(data) == tree[path], (source, dataset, copy)  # the copy is the pinned file


# --------------------------------------------------------------------------------------------------
# CuPL on the ImageNet family


def test_cupl_on_the_imagenet_family_is_cupls_image_prompts_file(monkeypatch):
    abs_tree, cupl_tree = _tree("ABS-5ba77c6.txt"), _tree("CuPL-719619c.txt")
    assert cupl_tree["imagenet_prompts/CuPL_image_prompts.json"] == CUPL_IMAGE_PROMPTS_BLOB
    for folder in ("imagenet", "imagenetv2", "imagenet-s", "imagenet-a", "imagenet-r"):  # ABS's copies are that file
        assert abs_tree[f"prompts/{folder}/cupl.json"] == CUPL_IMAGE_PROMPTS_BLOB
    for name in IMAGENET_FAMILY:
        remote = desc.SOURCES["cupl"][name]
        assert remote.url == f"https://raw.githubusercontent.com/sarahpratt/CuPL/{description_files.CUPL_COMMIT}/imagenet_prompts/CuPL_image_prompts.json"
        assert remote.checksum == f"git-blob:{CUPL_IMAGE_PROMPTS_BLOB}"
    from zsbench.methods.abs.method import ABS

    assert ABS.Config().descriptions == CuPL.Config().descriptions == "cupl"  # both use it by default

    data = _synthetic_imagenet_cupl(monkeypatch)
    names = list(imagenet.classnames())
    assert len(data) == 998  # "missile" (657, 744) and "sunglasses" (836, 837) are one key each
    got = desc.load("cupl", _dataset("imagenet", names))
    assert len(got.per_class) == 1000 and got.per_class == [data[n] for n in names]
    for dup, pair in (("missile", [657, 744]), ("sunglasses", [836, 837])):
        assert [i for i, n in enumerate(names) if n == dup] == pair
        assert got.per_class[pair[0]] == got.per_class[pair[1]] == data[dup]
    # ABS (faithful) on ImageNet-R scores all 1000 classes with this file; the 200-way variant picks its classes
    _, r_names, r_indices = imagenet.label_space("imagenet-r")
    ds = _dataset("imagenet-r", r_names, r_indices)
    assert ABS().load_descriptions(ds).per_class == [data[n] for n in names]
    assert ABS(ABS.Config(faithful=False)).load_descriptions(ds).per_class == [data[names[i]] for i in r_indices]


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
def test_every_reference_description_file_loads_and_templates_are_refused():
    for path in sorted((REFERENCE / "abs-repo").glob("*.json")) + sorted((REFERENCE / "cupl-repo").glob("*.json")):
        if path.name.endswith("__clip-e.json"):
            with pytest.raises(desc.DescriptionsError, match="holds a list"):
                desc.read_json(path)
        else:
            data = desc.read_json(path)
            assert data and all(isinstance(v, list) for v in data.values()), path


@needs_reference
def test_cupl_base_imagenet_covers_all_1000_classes():
    names = list(imagenet.classnames())
    _seed_cache(desc.SOURCES["cupl-base"]["imagenet"])
    got = desc.load("cupl-base", _dataset("imagenet", names))
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
def test_imagenet_a_uses_its_200_positions_and_abs_scores_all_1000(monkeypatch):
    from zsbench.methods.abs.method import ABS

    _, names, indices = imagenet.label_space("imagenet-a")
    ds = _dataset("imagenet-a", names, indices)
    _synthetic_imagenet_cupl(monkeypatch)
    _seed_cache(desc.SOURCES["dclip"]["imagenet-a"])
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


# Caltech101's folders (torchvision / CoOp); CoOp drops BACKGROUND_Google and Faces_easy
CALTECH_FOLDERS = """BACKGROUND_Google Faces Faces_easy Leopards Motorbikes accordion airplanes anchor ant barrel bass
beaver binocular bonsai brain brontosaurus buddha butterfly camera cannon car_side ceiling_fan cellphone chair
chandelier cougar_body cougar_face crab crayfish crocodile crocodile_head cup dalmatian dollar_bill dolphin
dragonfly electric_guitar elephant emu euphonium ewer ferry flamingo flamingo_head garfield gerenuk gramophone
grand_piano hawksbill headphone hedgehog helicopter ibis inline_skate joshua_tree kangaroo ketch lamp laptop llama
lobster lotus mandolin mayfly menorah metronome minaret nautilus octopus okapi pagoda panda pigeon pizza platypus
pyramid revolver rhino rooster saxophone schooner scissors scorpion sea_horse snoopy soccer_ball stapler starfish
stegosaurus stop_sign strawberry sunflower tick trilobite umbrella watch water_lilly wheelchair wild_cat
windsor_chair wrench yin_yang""".split()


@needs_reference
def test_coop_names_of_caltech_sun397_and_cars_find_cupls_keys():
    caltech = [n for n in map(naming.caltech, CALTECH_FOLDERS) if n is not None]
    assert len(CALTECH_FOLDERS) == 102 and len(caltech) == 100
    for source in ("cupl", "cupl-base", "cupl-full"):
        remote = desc.SOURCES[source]["caltech101"]
        _seed_cache(remote)
        raw = desc.read_json(_reference_copy(remote))
        got = desc.load(source, _dataset("caltech101", caltech))
        assert got["face"] == raw["off-center face"] and got["yin yang"] == raw["yin and yang symbol"]
        assert got["accordion"] == raw["accordion"] and got["car side"] == raw["side of a car"]
        assert len({tuple(v) for v in got.per_class}) == 100  # 100 different entries, none reused

    for source in ("cupl", "cupl-base"):
        remote = desc.SOURCES[source]["sun397"]
        _seed_cache(remote)
        raw = desc.read_json(_reference_copy(remote))
        paths = []  # each key back as its SUN397 category path: "apse (indoor)" -> /a/apse/indoor
        for key in raw:
            base, _, qualifier = key.removesuffix(")").partition(" (")
            paths.append(f"/{key[0]}/{base.replace(' ', '_')}" + (f"/{qualifier}" if qualifier else ""))
        names = [naming.scene(p) for p in paths]
        assert "indoor apse" in names and "outdoor apartment building" in names
        assert desc.load(source, _dataset("sun397", names)).per_class == list(raw.values())

        remote = desc.SOURCES[source]["stanford-cars"]
        _seed_cache(remote)
        raw = desc.read_json(_reference_copy(remote))
        names = [naming.car(k) for k in raw]  # Stanford Cars' own names are CuPL's keys; CoOp puts the year first
        assert names[0] == "2010 Dodge Dakota Crew Cab"
        assert desc.load(source, _dataset("stanford-cars", names)).per_class == list(raw.values())


@needs_reference
@torch.no_grad()
def test_abs_takes_the_first_50_cupl_sentences(toy_model):
    from zsbench.methods.abs.method import ABS

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
    assert descriptor_sentence("a long tail") == "which is a long tail"
    assert descriptor_sentence("angular wings") == "which is angular wings"  # DCLIP's startswith('a') quirk
    assert descriptor_sentence("has four legs") == "which has four legs"
    assert descriptor_sentence("often found in water") == "which often found in water"
    assert descriptor_sentence("used for cutting") == "which is used for cutting"
    assert descriptor_sentence("four sides") == "which has four sides"


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
