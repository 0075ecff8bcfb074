"""Model loading: toy-clip, local checkpoints (weights identified by content), hf-hub ids and
tags offline (clear errors), TorchScript detection for OpenAI archives."""
from __future__ import annotations

import shutil

import pytest
import torch

from zsbench.harness.models import ModelLoadError, _is_torchscript_archive, load_model


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
    assert load_model("toy-clip", None, "cpu").weights_id == toy.sha256(edited) != committed


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
