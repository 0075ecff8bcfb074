"""Model loading: toy-clip, local checkpoints (weights identified by content), hf-hub ids and
tags offline (clear errors), TorchScript detection for OpenAI archives; QuickGELU for weights
trained with it (and refusals naming the config otherwise), --device and --precision checked
before loading, and the weights identity known without building the model."""
from __future__ import annotations

import shutil

import pytest
import torch

from zsbench.harness.core.hashing import file_sha256
from zsbench.harness.models.loading import (ModelLoadError, _is_torchscript_archive, check_precision, load_model, resolve_device,
                                            weights_identity)


def test_toy_clip_loads_with_committed_weights(toy_model):
    assert toy_model.name == "toy-clip" and toy_model.pretrained == "committed"
    assert len(toy_model.weights_id) == 64
    assert toy_model.tokenizer(["a circle."]).shape == (1, 32)
    assert not toy_model.model.training


def test_committed_toy_weights_are_identified_by_their_bytes(tmp_path, monkeypatch):
    """Retrained or edited weights in the package must not reuse features cached for the old ones,
    even before the manifest is rewritten."""
    from safetensors.torch import load_file, save_file

    from zsbench.datasets.toy import model as toy

    committed = load_model("toy-clip", None, "cpu").weights_id
    assert committed == toy.manifest()["weights_sha256"]
    state = load_file(str(toy.WEIGHTS_PATH))
    state["logit_scale"] = state["logit_scale"] + 1
    edited = tmp_path / "toy-clip.safetensors"
    save_file(state, str(edited))
    monkeypatch.setattr(toy, "WEIGHTS_PATH", edited)  # the manifest still names the committed file's hash
    assert load_model("toy-clip", None, "cpu").weights_id == file_sha256(edited) != committed


def test_local_checkpoint_is_identified_by_content(tmp_path, toy_model):
    state = {k: v.clone() for k, v in toy_model.model.state_dict().items()}
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save(state, a)
    shutil.copy(a, b)  # the same bytes under another name
    loaded_a = load_model("toy-clip", str(a), "cpu")
    loaded_b = load_model("toy-clip", str(b), "cpu")
    assert loaded_a.weights_id == loaded_b.weights_id and loaded_a.weights_id.startswith("sha256:")
    for (k, v), (_, w) in zip(toy_model.model.state_dict().items(), loaded_a.model.state_dict().items()):
        assert torch.equal(v, w), k
    state["logit_scale"] = state["logit_scale"] + 1
    torch.save(state, b)
    assert load_model("toy-clip", str(b), "cpu").weights_id != loaded_a.weights_id


def test_checkpoint_of_the_wrong_architecture_says_so(tmp_path):
    bad = tmp_path / "linear.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), bad)
    with pytest.raises(ModelLoadError, match="Check that --model names the checkpoint's architecture"):
        load_model("toy-clip", str(bad), "cpu")


def test_hf_hub_model_offline_gives_a_clear_error():
    with pytest.raises(ModelLoadError, match="cannot be downloaded"):
        load_model("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K", None, "cpu")


def test_unknown_model_and_precision():
    with pytest.raises(ModelLoadError, match="unknown model 'ViT-Q-99'"):
        load_model("ViT-Q-99", None, "cpu")
    with pytest.raises(ModelLoadError, match="--precision 'fp8'"):
        load_model("toy-clip", None, "cpu", precision="fp8")


def test_torchscript_archives_are_told_apart_from_state_dicts(tmp_path):
    scripted = tmp_path / "scripted.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(scripted))
    plain = tmp_path / "plain.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), plain)
    assert _is_torchscript_archive(scripted) and not _is_torchscript_archive(plain)


# --- QuickGELU, device, precision and weights identity, on a tiny open_clip architecture --------------

TINY = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 64, "heads": 1, "layers": 2}}
GELU, QUICK = "zsb-tiny", "zsb-tiny-quickgelu"  # the same architecture, as open_clip names such pairs
MARKERS = {"input_resolution": torch.tensor(32), "context_length": torch.tensor(16), "vocab_size": torch.tensor(1000)}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Registers the tiny GELU/QuickGELU configs; yields a QuickGELU model with random weights (what
    OpenAI-style weights need) and a folder holding its open_clip state dict."""
    import json

    import open_clip

    root = tmp_path_factory.mktemp("tiny")
    (root / "configs").mkdir()
    (root / "configs" / f"{GELU}.json").write_text(json.dumps(TINY))
    (root / "configs" / f"{QUICK}.json").write_text(json.dumps({**TINY, "quick_gelu": True}))
    open_clip.add_model_config(root / "configs")
    torch.manual_seed(0)
    reference = open_clip.create_model(QUICK).eval()
    torch.save(reference.state_dict(), root / "open_clip.pt")
    return reference, root


def _inputs():
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 32, 32, generator=g), torch.randint(0, 1000, (2, 16), generator=g)


def _features(model):
    images, tokens = _inputs()
    with torch.no_grad():
        return model.encode_image(images), model.encode_text(tokens)


def _quick_gelu_layers(model) -> tuple[int, int]:
    """(QuickGELU modules, nn.GELU modules) in the model."""
    from open_clip.transformer import QuickGELU

    mods = list(model.modules())
    return sum(isinstance(m, QuickGELU) for m in mods), sum(isinstance(m, torch.nn.GELU) for m in mods)


def _assert_same_features(model, reference):
    for got, want in zip(_features(model), _features(reference)):
        assert torch.equal(got, want)


def _openai_state_dict(reference, nested: bool = False) -> dict:
    """As OpenAI's state dicts are: the CLIP weights plus the three marker entries (optionally as a
    training checkpoint, under "state_dict" with DataParallel's "module." prefix)."""
    state = {**reference.state_dict(), **MARKERS}
    return {"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3} if nested else state


@pytest.mark.parametrize("nested", [False, True])
def test_openai_state_dict_into_a_gelu_config_is_refused_naming_the_quickgelu_config(tiny, tmp_path, nested):
    reference, _ = tiny
    path = tmp_path / "openai.pt"
    torch.save(_openai_state_dict(reference, nested), path)
    with pytest.raises(ModelLoadError, match=f"trained with QuickGELU .*use --model {QUICK}$") as err:
        load_model(GELU, str(path), "cpu")
    assert "\n" not in str(err.value) and "OpenAI state dict" in str(err.value)


@pytest.mark.parametrize("nested", [False, True])
def test_openai_state_dict_into_the_quickgelu_config_loads_with_quickgelu(tiny, tmp_path, nested, caplog):
    from zsbench.harness.core.hashing import file_sha256

    reference, _ = tiny
    path = tmp_path / "openai.pt"
    torch.save(_openai_state_dict(reference, nested), path)
    loaded = load_model(QUICK, str(path), "cpu")
    assert "initialized randomly" not in caplog.text  # open_clip's log for the model built before our load
    assert _quick_gelu_layers(loaded.model) == (4, 0)  # one MLP activation per block, both towers
    _assert_same_features(loaded.model, reference)
    assert loaded.weights_id == f"sha256:{file_sha256(path)}" and loaded.pretrained == str(path)


def test_openai_state_dict_as_safetensors_is_detected_too(tiny, tmp_path):
    from safetensors.torch import save_file

    reference, _ = tiny
    path = tmp_path / "openai.safetensors"
    save_file({k: v.contiguous() for k, v in _openai_state_dict(reference).items()}, str(path))
    with pytest.raises(ModelLoadError, match=f"use --model {QUICK}$"):
        load_model(GELU, str(path), "cpu")
    _assert_same_features(load_model(QUICK, str(path), "cpu").model, reference)


def test_gelu_config_without_a_quickgelu_twin_says_which_config_lacks_it(tiny, tmp_path, monkeypatch):
    import open_clip

    reference, _ = tiny
    path = tmp_path / "openai.pt"
    torch.save(_openai_state_dict(reference), path)
    monkeypatch.setattr(open_clip, "list_models", lambda: [m for m in open_clip.factory.list_models() if m != QUICK])
    with pytest.raises(ModelLoadError, match=f"open_clip has no QuickGELU config for '{GELU}'"):
        load_model(GELU, str(path), "cpu")


class _Archive(torch.nn.Module):
    """A CLIP's weights under OpenAI's names plus the markers, to trace as OpenAI's .pt files are."""

    def __init__(self, clip):
        super().__init__()
        for name, child in clip.named_children():
            self.add_module(name, child)
        for name, p in clip.named_parameters(recurse=False):
            self.register_parameter(name, p)
        for name, value in MARKERS.items():
            self.register_buffer(name, value.clone())

    def forward(self, images):
        return self.visual(images)


def test_openai_torchscript_archive_builds_quickgelu_whatever_the_config(tiny, tmp_path):
    import copy

    import open_clip

    reference, _ = tiny
    path = tmp_path / "ViT-tiny.pt"
    torch.jit.trace(_Archive(copy.deepcopy(reference)), (_inputs()[0],)).save(str(path))
    loaded = load_model(GELU, str(path), "cpu")
    assert _quick_gelu_layers(loaded.model) == (4, 0)
    # open_clip's build_model_from_openai_state_dict rounds the weights through fp16, as OpenAI stored them
    rounded = open_clip.create_model(QUICK).eval()
    rounded.load_state_dict(reference.state_dict())
    open_clip.model.convert_weights_to_fp16(rounded)
    _assert_same_features(loaded.model, rounded.float())


def _hub_snapshot(folder, reference, quick_gelu: bool):
    """A Hugging Face snapshot as open_clip's hub repos are: weights plus open_clip_config.json."""
    import json

    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {**TINY, "quick_gelu": quick_gelu},
                                                              "preprocess_cfg": {}}))
    torch.save(reference.state_dict(), folder / "open_clip_pytorch_model.bin")
    return folder / "open_clip_pytorch_model.bin"


def test_hub_snapshot_marked_quick_gelu_is_refused_with_a_gelu_config(tiny, tmp_path):
    """The silent case: an open_clip state dict of weights trained with QuickGELU, loaded by path."""
    reference, _ = tiny
    path = _hub_snapshot(tmp_path / "snapshot", reference, quick_gelu=True)
    with pytest.raises(ModelLoadError, match=f"open_clip_config.json says quick_gelu: true\\) .*use --model {QUICK}$"):
        load_model(GELU, str(path), "cpu")
    loaded = load_model(QUICK, str(path), "cpu")
    _assert_same_features(loaded.model, reference)


def test_hub_snapshot_of_gelu_weights_is_refused_with_a_quickgelu_config(tiny, tmp_path):
    reference, _ = tiny
    path = _hub_snapshot(tmp_path / "snapshot", reference, quick_gelu=False)
    with pytest.raises(ModelLoadError, match=f"trained with GELU .*builds QuickGELU; use --model {GELU}$"):
        load_model(QUICK, str(path), "cpu")
    assert _quick_gelu_layers(load_model(GELU, str(path), "cpu").model)[0] == 0


def test_published_checksum_marks_quickgelu_weights(tiny, monkeypatch):
    """open_clip's download URLs embed the file's sha256 (whole for OpenAI's, a prefix for the
    mlfoundations releases); a file with such a hash is known to need that tag's activation."""
    import open_clip

    from zsbench.harness.core.hashing import file_sha256

    _, root = tiny
    path = root / "open_clip.pt"
    url = f"https://github.com/mlfoundations/open_clip/releases/download/v0.2-weights/tiny-quickgelu-yfcc-{file_sha256(path)[:8]}.pt"
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, GELU, {"yfcc15m": {"url": url, "quick_gelu": True}})
    with pytest.raises(ModelLoadError, match=f"its sha256 is that of open_clip's {GELU} 'yfcc15m' download.*use --model {QUICK}$"):
        load_model(GELU, str(path), "cpu")


def test_hugging_face_cache_folder_of_quickgelu_weights_is_known(tiny, tmp_path, monkeypatch):
    """open_clip's tag downloads fetch only the weights file into the HF cache (no
    open_clip_config.json beside it); the cache folder names the repo, which open_clip's table maps
    to its tag and activation."""
    import open_clip

    reference, _ = tiny
    snapshot = tmp_path / "hub" / "models--timm--zsb_tiny.openai" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    torch.save(reference.state_dict(), snapshot / "open_clip_pytorch_model.bin")
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, GELU, {"openai": {"hf_hub": "timm/zsb_tiny.openai/", "quick_gelu": True}})
    path = str(snapshot / "open_clip_pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=f"it is from timm/zsb_tiny.openai, open_clip's {GELU} 'openai' weights.*use --model {QUICK}$"):
        load_model(GELU, path, "cpu")
    _assert_same_features(load_model(QUICK, path, "cpu").model, reference)


@pytest.fixture
def tiny_openai_tag(tiny, monkeypatch):
    """An 'openai' tag for both tiny configs whose file is the reference's weights, as open_clip's
    pretrained table lists OpenAI's (quick_gelu=True), with no download."""
    import open_clip

    reference, root = tiny
    cfg = open_clip.pretrained._pcfg(hf_hub="timm/zsb_tiny.openai/", quick_gelu=True, file=str(root / "open_clip.pt"))
    for name in (GELU, QUICK):
        monkeypatch.setitem(open_clip.pretrained._PRETRAINED, name, {"openai": dict(cfg)})
    return reference


@pytest.mark.filterwarnings("error:QuickGELU mismatch")
@pytest.mark.parametrize("name", [GELU, QUICK])
def test_openai_tag_builds_quickgelu_even_on_the_gelu_config(tiny_openai_tag, name):
    """open_clip 3 builds `ViT-B-16 --pretrained openai` with GELU and only warns; we follow the tag."""
    loaded = load_model(name, "openai", "cpu")
    assert _quick_gelu_layers(loaded.model) == (4, 0)
    _assert_same_features(loaded.model, tiny_openai_tag)
    assert (loaded.pretrained, loaded.weights_id, loaded.identity) == ("openai", f"{name}:openai", f"{name}|{name}:openai")


def test_the_default_vit_b_16_openai_asks_open_clip_for_quickgelu(monkeypatch):
    """The real table: ViT-B-16's config is GELU and its openai tag says quick_gelu, which open_clip
    3 only warns about; the default run must build QuickGELU (checked without building ViT-B-16)."""
    import open_clip

    assert "quick_gelu" not in open_clip.get_model_config("ViT-B-16")
    assert open_clip.get_pretrained_cfg("ViT-B-16", "openai")["quick_gelu"] is True
    calls = []

    def build(name, pretrained=None, **kwargs):
        calls.append((name, pretrained, kwargs.get("force_quick_gelu", False)))
        raise RuntimeError("stop before building")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", build)
    for name in ("ViT-B-16", "ViT-B-16-quickgelu"):
        with pytest.raises(ModelLoadError, match="stop before building"):
            load_model(name, "openai", "cpu")
    assert calls == [("ViT-B-16", "openai", True), ("ViT-B-16-quickgelu", "openai", False)]


@pytest.fixture
def tiny_hub(tiny, monkeypatch):
    """hf-hub:timm/zsb_tiny.openai served from disk: its open_clip_config.json says quick_gelu, as
    open_clip's push_to_hf_hub writes for OpenAI weights."""
    import open_clip

    reference, root = tiny
    config = {"model_cfg": {**TINY, "quick_gelu": True}, "preprocess_cfg": {}}
    monkeypatch.setattr(open_clip.factory, "_get_hf_config", lambda model_id, cache_dir=None: _json_copy(config))
    monkeypatch.setattr(open_clip.factory, "download_pretrained_from_hf", lambda *a, **k: str(root / "open_clip.pt"))
    return reference


def _json_copy(value):
    import json

    return json.loads(json.dumps(value))


@pytest.mark.parametrize("name, pretrained", [("hf-hub:timm/zsb_tiny.openai", None), (GELU, "hf-hub:timm/zsb_tiny.openai")])
def test_hf_hub_weights_get_quickgelu_from_the_hub_config(tiny_hub, name, pretrained):
    loaded = load_model(name, pretrained, "cpu")
    assert _quick_gelu_layers(loaded.model) == (4, 0)
    _assert_same_features(loaded.model, tiny_hub)
    assert loaded.pretrained == loaded.weights_id == "hf-hub:timm/zsb_tiny.openai"


# --- device and precision ---------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["tpu9", "gpu", "cuda:x", "cuda:-1", "cpu:0", ""])
def test_unknown_device_lists_the_valid_forms(device):
    with pytest.raises(ModelLoadError, match="choose auto, cpu, cuda or cuda:N"):
        resolve_device(device)


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_refused(device, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelLoadError, match=f"--device {device}: no CUDA device is available here; use --device cpu or auto"):
        resolve_device(device)
    assert resolve_device("auto") == torch.device("cpu") == resolve_device("cpu")


def test_cuda_devices_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda") == resolve_device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ModelLoadError, match="--device cuda:2: this machine has 2 CUDA device"):
        resolve_device("cuda:2")


def test_bad_device_fails_before_any_model_is_built(monkeypatch):
    import open_clip

    def build(*args, **kwargs):
        raise AssertionError("built a model")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", build)
    with pytest.raises(ModelLoadError, match="--device 'tpu9'"):
        load_model("toy-clip", None, "tpu9")


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_on_cpu_is_refused(precision):
    message = f"--precision {precision} runs as CUDA autocast; on CPU zsbench computes in fp32: use --precision fp32"
    with pytest.raises(ModelLoadError) as err:
        check_precision(precision, torch.device("cpu"))
    assert str(err.value) == message
    with pytest.raises(ModelLoadError, match="runs as CUDA autocast"):
        load_model("toy-clip", None, "cpu", precision=precision)
    assert check_precision(precision, torch.device("cuda")) == precision
    assert check_precision("fp32", torch.device("cpu")) == "fp32"


def test_unknown_precision_lists_the_valid_ones():
    with pytest.raises(ModelLoadError, match="--precision 'fp8': choose one of fp32, fp16, bf16"):
        check_precision("fp8", torch.device("cpu"))


# --- weights identity before loading --------------------------------------------------------------

def test_weights_identity_matches_load_model_for_every_kind(tiny, tiny_openai_tag, tiny_hub, tmp_path):
    from zsbench.datasets.toy import model as toy
    from zsbench.harness.core.hashing import file_sha256

    _, root = tiny
    local = str(root / "open_clip.pt")
    cases = {
        ("toy-clip", None): ("committed", file_sha256(toy.WEIGHTS_PATH)),
        ("toy-clip", "openai"): ("committed", file_sha256(toy.WEIGHTS_PATH)),
        (QUICK, local): (local, f"sha256:{file_sha256(local)}"),
        (GELU, "openai"): ("openai", f"{GELU}:openai"),
        (GELU, None): ("none", "random-init"),
        ("hf-hub:timm/zsb_tiny.openai", None): ("hf-hub:timm/zsb_tiny.openai",) * 2,
        (GELU, "hf-hub:timm/zsb_tiny.openai"): ("hf-hub:timm/zsb_tiny.openai",) * 2,
    }
    for (name, pretrained), expected in cases.items():
        assert weights_identity(name, pretrained) == expected, (name, pretrained)
        loaded = load_model(name, pretrained, "cpu")
        assert (loaded.pretrained, loaded.weights_id) == expected, (name, pretrained)
    assert weights_identity() == ("openai", "ViT-B-16:openai")  # the default, offline, without building ViT-B-16


@pytest.mark.parametrize("name, pretrained", [
    ("ViT-Q-99", None), ("ViT-B-16", "no-such-tag"), ("ViT-B-16", "missing/ckpt.pt"), ("toy-clip", "missing.pt"),
])
def test_weights_identity_raises_load_models_errors_without_building(name, pretrained, monkeypatch):
    import open_clip

    with pytest.raises(ModelLoadError) as from_load:
        load_model(name, pretrained, "cpu")

    def build(*args, **kwargs):
        raise AssertionError("built a model")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", build)
    with pytest.raises(ModelLoadError) as from_identity:
        weights_identity(name, pretrained)
    assert str(from_identity.value) == str(from_load.value)


@pytest.fixture
def counted_initialisers(monkeypatch):
    """Counts calls of the torch.nn.init initialisers open_clip's layers draw random weights with."""
    calls = []
    for name in ("normal_", "uniform_", "kaiming_uniform_", "ones_", "zeros_", "constant_"):
        original = getattr(torch.nn.init, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(torch.nn.init, name, spy)
    return calls


def test_loading_weights_draws_no_random_initial_weights(tiny, tiny_openai_tag, tiny_hub, tmp_path, counted_initialisers):
    """open_clip builds a model randomly initialised and loads weights over it. When the load is
    strict and covers the whole model, we skip drawing the initial weights (1.2 s of a ViT-B-32's
    1.7 s load on 2 cores). The weights come out the same for every kind of weights, and a random
    model still draws them."""
    reference, root = tiny
    openai_file = tmp_path / "openai.pt"
    torch.save(_openai_state_dict(reference), openai_file)
    for name, pretrained in [(QUICK, str(root / "open_clip.pt")), (QUICK, str(openai_file)), (GELU, "openai"),
                             ("hf-hub:timm/zsb_tiny.openai", None)]:
        loaded = load_model(name, pretrained, "cpu")
        assert counted_initialisers == [], (name, pretrained)
        _assert_same_features(loaded.model, reference)
    load_model(GELU, None, "cpu")
    assert {"normal_", "ones_", "zeros_"} <= set(counted_initialisers)


def test_a_checkpoint_missing_weights_still_fails_to_load(tiny, tmp_path):
    """Skipping the random initial weights is safe only because a load that leaves any of them in
    place fails."""
    reference, _ = tiny
    partial = {k: v for k, v in reference.state_dict().items() if k != "text_projection"}
    torch.save(partial, tmp_path / "partial.pt")
    with pytest.raises(ModelLoadError, match="text_projection"):
        load_model(QUICK, str(tmp_path / "partial.pt"), "cpu")


def test_no_random_init_restores_the_initialisers_on_error():
    from zsbench.harness.models.skip_init import no_random_init

    before = torch.nn.init.normal_
    with pytest.raises(ValueError):
        with no_random_init():
            assert torch.nn.init.normal_ is not before
            raise ValueError
    assert torch.nn.init.normal_ is before
    weight = torch.zeros(3)
    torch.nn.init.ones_(weight)
    assert weight.tolist() == [1.0, 1.0, 1.0]


def test_a_checkpoint_is_hashed_once_per_process_until_it_changes(tmp_path, monkeypatch):
    """A run asks for its checkpoint's identity when planning and again when loading. The file is
    hashed once, and a file replaced or rewritten in place is hashed again."""
    from zsbench.harness.core import hashing

    hashed = []
    monkeypatch.setattr(hashing, "file_sha256", lambda path: hashed.append(path) or f"hash-{len(hashed)}")
    hashing._sha256_of.cache_clear()
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"a" * 10)
    assert hashing.unchanged_file_sha256(ckpt) == hashing.unchanged_file_sha256(str(ckpt)) == "hash-1"
    replacement = tmp_path / "new.pt"
    replacement.write_bytes(b"b" * 10)
    replacement.replace(ckpt)  # an atomic rewrite: a new inode
    assert hashing.unchanged_file_sha256(ckpt) == "hash-2"
    ckpt.write_bytes(b"c" * 11)  # in place, another size
    assert hashing.unchanged_file_sha256(ckpt) == "hash-3"
    hashing._sha256_of.cache_clear()
