"""Loading a CLIP model for evaluation: open_clip names with pretrained tags, ``hf-hub:`` ids,
local checkpoints (open_clip state dicts and OpenAI TorchScript archives), and our ``toy-clip``.

Everything downstream (feature cache keys, results rows) identifies weights by
``LoadedModel.weights_id``, so two spellings of the same checkpoint file share cached features
and a retrained checkpoint at the same path does not.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import open_clip
import torch

from .errors import UserError
from .hashing import file_sha256

DEFAULT_MODEL = "ViT-B-16"
DEFAULT_PRETRAINED = "openai"
TOY_MODEL = "toy-clip"
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class ModelLoadError(UserError, RuntimeError):
    """Weights that cannot be found or loaded; the message says what to download or pass."""


@dataclass
class LoadedModel:
    model: torch.nn.Module
    preprocess: Callable  # PIL image -> normalised tensor (the evaluation transform)
    tokenizer: Callable
    name: str
    pretrained: str
    weights_id: str  # content identity of the weights (tag, hub id or file hash)
    device: torch.device
    precision: str

    @property
    def dtype(self) -> torch.dtype:
        return PRECISIONS[self.precision]

    def autocast(self):
        """Mixed precision for fp16/bf16 on CUDA; weights stay fp32 and run in fp32 on CPU."""
        enabled = self.precision != "fp32" and self.device.type == "cuda"
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=enabled)

    @property
    def identity(self) -> str:
        return f"{self.name}|{self.weights_id}"


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("--device cuda was asked for but no CUDA device is available; use --device cpu or auto")
    return torch.device(device)


def _is_torchscript_archive(path: Path) -> bool:
    """OpenAI's released checkpoints are TorchScript zip archives with a ``code/`` folder."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(name.split("/")[1:2] == ["code"] for name in zf.namelist())


def _offline_hint(name: str, pretrained: str) -> str:
    return (
        f"weights {pretrained!r} for model {name!r} are not in the local Hugging Face cache and cannot be "
        "downloaded (offline, or HF_HUB_OFFLINE=1). Either download them once on a connected machine "
        f"(python -c \"import open_clip; open_clip.create_model_and_transforms('{name}', pretrained='{pretrained}')\") "
        "and copy ~/.cache/huggingface to this one, or pass --pretrained PATH to a local checkpoint file "
        "(open_clip .pt/.bin/.safetensors or an OpenAI .pt archive)."
    )


def load_model(name: str = DEFAULT_MODEL, pretrained: str | None = DEFAULT_PRETRAINED, device: str = "auto",
               precision: str = "fp32") -> LoadedModel:
    """Load a model ready for evaluation (eval mode, on ``device``)."""
    if precision not in PRECISIONS:
        raise ModelLoadError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    dev = resolve_device(device)
    if name == TOY_MODEL:
        from zsbench.datasets.toy import model as toy

        model, preprocess = toy.load()
        tokenizer = toy.tokenizer()
        pretrained = pretrained if pretrained not in (None, DEFAULT_PRETRAINED) else "committed"
        if pretrained != "committed":
            model, preprocess, weights_id = _load_local(name, Path(pretrained))
        else:
            weights_id = toy.sha256(toy.WEIGHTS_PATH)  # the file's content, not the manifest's claim about it
    elif name.startswith("hf-hub:"):
        weights_id = name
        model, preprocess = _create(name, None, _offline_hint(name, "(hub)"))
        tokenizer = open_clip.get_tokenizer(name)
        pretrained = name
    else:
        if name not in open_clip.list_models():
            raise ModelLoadError(f"unknown model {name!r}; valid: {TOY_MODEL}, hf-hub:ORG/REPO, or an open_clip name "
                                 f"({', '.join(open_clip.list_models()[:12])}, ...; see `zsbench list models`)")
        tokenizer = open_clip.get_tokenizer(name)
        if pretrained and pretrained.startswith("hf-hub:"):
            model, preprocess = _create(pretrained, None, _offline_hint(pretrained, "(hub)"))
            weights_id = pretrained
        elif pretrained and (os.sep in pretrained or Path(pretrained).suffix or Path(pretrained).exists()):
            model, preprocess, weights_id = _load_local(name, Path(pretrained))
        else:
            tags = open_clip.list_pretrained_tags_by_model(name)
            if pretrained and pretrained not in tags:
                raise ModelLoadError(f"--pretrained {pretrained!r} is not a tag of {name!r} (tags: {', '.join(tags) or 'none'}) "
                                     "and not an existing file")
            model, preprocess = _create(name, pretrained, _offline_hint(name, pretrained or ""))
            weights_id = f"{name}:{pretrained}" if pretrained else "random-init"
    model = model.to(dev).eval()
    return LoadedModel(model, preprocess, tokenizer, name, pretrained or "none", weights_id, dev, precision)


def _create(name: str, pretrained: str | None, hint: str):
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained)
    except Exception as err:  # open_clip raises RuntimeError/OSError subclasses from huggingface_hub
        if _is_offline_error(err):
            raise ModelLoadError(hint) from None
        raise ModelLoadError(f"could not load {name!r} (pretrained={pretrained!r}): {err}") from err
    return model, preprocess


def _is_offline_error(err: BaseException) -> bool:
    text = f"{type(err).__name__}: {err}".lower()
    markers = ("offline", "localentrynotfound", "connection", "cannot find the requested files", "couldn't connect",
               "failed to download", "max retries", "name resolution")
    return any(m in text for m in markers) or (err.__cause__ is not None and _is_offline_error(err.__cause__))


def _load_local(name: str, path: Path):
    if not path.is_file():
        raise ModelLoadError(f"--pretrained {path}: no such checkpoint file")
    weights_id = f"sha256:{file_sha256(path)}"
    if _is_torchscript_archive(path):
        try:
            model = open_clip.load_openai_model(str(path), precision="fp32", device="cpu")
        except Exception as err:
            raise ModelLoadError(f"--pretrained {path}: not a loadable OpenAI CLIP archive ({err})") from err
        preprocess = open_clip.image_transform(model.visual.image_size, is_train=False)
        return model, preprocess, weights_id
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(path))
    except Exception as err:
        raise ModelLoadError(f"--pretrained {path}: cannot load it into {name!r} ({type(err).__name__}: {err}). "
                             "Check that --model names the checkpoint's architecture.") from err
    return model, preprocess, weights_id
