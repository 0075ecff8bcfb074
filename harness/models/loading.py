"""Loading a CLIP model for evaluation: open_clip names with pretrained tags, ``hf-hub:`` ids,
local checkpoints (open_clip state dicts, OpenAI state dicts and TorchScript archives), and models
registered with a :class:`ModelLoader` (the toy world's ``toy-clip``, registered by
``zsbench.datasets.toy.model``).

Everything downstream (feature cache keys, results rows) identifies weights by
``LoadedModel.weights_id``, so two spellings of the same checkpoint file share cached features
and a retrained checkpoint at the same path does not. :func:`weights_identity` gives that id
without building the model, so a run whose results are all stored never loads one.

OpenAI's weights (and some early LAION/MetaCLIP ones) were trained with QuickGELU, which open_clip
builds only when the model config says ``quick_gelu``; weights run through the other activation
give features off by ~1e-3 and worse accuracy with no error. So the activation follows what the
weights are known to need (a pretrained tag's config, OpenAI's state-dict markers, the hub
folder's ``open_clip_config.json``, a published checksum), and a ``--model`` that contradicts it
is refused with the config to use instead.
"""
from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import open_clip
import torch

from zsbench.harness.core.errors import UserError
from zsbench.harness.core.hashing import unchanged_file_sha256
from zsbench.harness.core.registry import MODEL_LOADERS
from zsbench.harness.models.skip_init import no_random_init

DEFAULT_MODEL = "ViT-B-16"
DEFAULT_PRETRAINED = "openai"
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Entries of OpenAI's released state dicts that no open_clip model has (open_clip's
# build_model_from_openai_state_dict pops them before loading).
OPENAI_MARKERS = ("input_resolution", "context_length", "vocab_size")


class ModelLoadError(UserError, RuntimeError):
    """Weights that cannot be found or loaded; the message says what to download or pass."""


class ModelLoader:
    """A model zsbench knows by name besides open_clip's, registered with
    ``@register_model_loader(name)``: its committed weights are what ``--pretrained`` means when it is
    not given (or is ``committed``); ``--pretrained PATH`` loads a file through open_clip into the
    architecture :meth:`register_config` makes known to it."""

    def committed_weights_id(self) -> str:
        """The content identity of the committed weights (recorded as ``weights_id``)."""
        raise NotImplementedError

    def register_config(self) -> None:
        """Make the architecture known to open_clip under the loader's name (idempotent)."""
        raise NotImplementedError

    def load_committed(self):
        """(model, evaluation transform) with the committed weights."""
        raise NotImplementedError

    def tokenizer(self) -> Callable:
        raise NotImplementedError


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
        """Mixed precision for fp16/bf16 on CUDA (check_precision refuses them elsewhere)."""
        enabled = self.precision != "fp32" and self.device.type == "cuda"
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=enabled)

    @property
    def identity(self) -> str:
        return f"{self.name}|{self.weights_id}"


def resolve_device(device: str | torch.device) -> torch.device:
    """``--device`` as a torch device, checked here so that a bad value or a missing GPU fails
    before anything is loaded rather than as a traceback mid-run. ``auto``: cuda if available."""
    text = str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if match is None:
        raise ModelLoadError(f"--device {device!r}: choose auto, cpu, cuda or cuda:N (N below the number of CUDA devices)")
    if not torch.cuda.is_available():
        raise ModelLoadError(f"--device {text}: no CUDA device is available here; use --device cpu or auto")
    if match.group(1) is None:
        return torch.device("cuda")
    count = torch.cuda.device_count()
    if int(match.group(1)) >= count:
        raise ModelLoadError(f"--device {text}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}; "
                             "use one of those, cuda, cpu or auto")
    return torch.device("cuda", int(match.group(1)))


def check_precision(precision: str, device: str | torch.device) -> str:
    """``precision`` if zsbench really computes in it on ``device``: fp16/bf16 are CUDA autocast,
    so on CPU they would run (and be recorded) as what they are not."""
    if precision not in PRECISIONS:
        raise ModelLoadError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    if precision != "fp32" and dev.type != "cuda":
        raise ModelLoadError(f"--precision {precision} runs as CUDA autocast; on {dev.type.upper()} zsbench computes "
                             "in fp32: use --precision fp32")
    return precision


@dataclass(frozen=True)
class _Weights:
    """Where the weights come from, resolved from (name, pretrained) without building anything."""
    kind: str  # "committed" (a registered loader's own weights), "file", "hub", "tag" or "none" (random init)
    label: str  # LoadedModel.pretrained
    weights_id: str
    path: Path | None = None  # kind "file"
    hub: str | None = None  # kind "hub": the hf-hub: id open_clip builds from


def weights_identity(name: str = DEFAULT_MODEL, pretrained: str | None = DEFAULT_PRETRAINED) -> tuple[str, str]:
    """(the pretrained label a results row records, the weights' content id) exactly as
    :func:`load_model` sets ``LoadedModel.pretrained`` and ``.weights_id``, without building the
    model; raises the ModelLoadError load_model would for an unknown model, tag or file."""
    weights = _resolve_weights(name, pretrained)
    return weights.label, weights.weights_id


def _resolve_weights(name: str, pretrained: str | None) -> _Weights:
    if name in MODEL_LOADERS:
        if pretrained in (None, DEFAULT_PRETRAINED, "committed"):
            return _Weights("committed", "committed", MODEL_LOADERS.get(name).committed_weights_id())
        return _file_weights(pretrained)
    if name.startswith("hf-hub:"):
        return _Weights("hub", name, name, hub=name)
    if name not in open_clip.list_models():
        raise ModelLoadError(f"unknown model {name!r}; valid: {', '.join(MODEL_LOADERS.names())}, hf-hub:ORG/REPO, or an open_clip name "
                             f"({', '.join(open_clip.list_models()[:12])}, ...; see `zsbench list models`)")
    if pretrained and pretrained.startswith("hf-hub:"):
        return _Weights("hub", pretrained, pretrained, hub=pretrained)
    if pretrained and (os.sep in pretrained or Path(pretrained).suffix or Path(pretrained).exists()):
        return _file_weights(pretrained)
    if not pretrained:
        return _Weights("none", "none", "random-init")
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained not in tags:
        raise ModelLoadError(f"--pretrained {pretrained!r} is not a tag of {name!r} (tags: {', '.join(tags) or 'none'}) "
                             "and not an existing file")
    return _Weights("tag", pretrained, f"{name}:{pretrained}")


def _file_weights(pretrained: str) -> _Weights:
    path = Path(pretrained).expanduser()
    if path.is_dir():
        raise ModelLoadError(f"--pretrained {pretrained}: is a folder; pass the checkpoint file inside it "
                             "(e.g. open_clip_pytorch_model.bin or open_clip_model.safetensors)")
    if not path.is_file():
        raise ModelLoadError(f"--pretrained {pretrained}: no such checkpoint file")
    return _Weights("file", pretrained, f"sha256:{unchanged_file_sha256(path)}", path=path)


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
    dev = resolve_device(device)
    check_precision(precision, dev)
    weights = _resolve_weights(name, pretrained)
    if name in MODEL_LOADERS:
        loader = MODEL_LOADERS.get(name)
        loader.register_config()
        tokenizer = loader.tokenizer()
        if weights.kind == "committed":
            model, preprocess = loader.load_committed()
        else:
            model, preprocess = _load_local(name, weights)
    else:
        if weights.kind == "hub":
            model, preprocess = _create(weights.hub, None, _offline_hint(weights.hub, "(hub)"))
        elif weights.kind == "file":
            model, preprocess = _load_local(name, weights)
        else:
            tag = pretrained if weights.kind == "tag" else None
            # open_clip 3 builds a tag's weights into the named config and only warns when the tag
            # was trained with QuickGELU and the config is GELU (e.g. ViT-B-16 + openai): follow the tag.
            tag_quick_gelu = bool(tag and open_clip.get_pretrained_cfg(name, tag).get("quick_gelu", False))
            model, preprocess = _create(name, tag, _offline_hint(name, tag or ""),
                                        force_quick_gelu=tag_quick_gelu and not _config_quick_gelu(name))
        tokenizer = open_clip.get_tokenizer(name)  # after the model: a hub model offline fails there, clearly
    model = model.to(dev).eval()
    return LoadedModel(model, preprocess, tokenizer, name, weights.label, weights.weights_id, dev, precision)


def cached_pretrained(name: str, tag: str, hf_cache: str | Path | None = None, url_cache: str | Path | None = None) -> bool:
    """Whether open_clip's weights for (model, tag) are already on this machine, so a run needs no
    download: in the Hugging Face cache (``hf_cache``, default the hub's) for a hub-hosted tag, in
    open_clip's URL cache (``url_cache``, default ~/.cache/clip) otherwise. Looks, never downloads."""
    cfg = open_clip.get_pretrained_cfg(name, tag) or {}
    if cfg.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(cfg["hf_hub"])  # "org/repo/" (no file): open_clip's default file name
        filename = filename or "open_clip_pytorch_model.bin"
        safe = "open_clip_model.safetensors" if filename == "open_clip_pytorch_model.bin" else str(Path(filename).with_suffix(".safetensors"))
        names = [safe, filename]  # open_clip tries the safetensors file first
        return any(isinstance(try_to_load_from_cache(repo, n, cache_dir=hf_cache), str) for n in names)
    if cfg.get("url"):
        folder = Path(url_cache) if url_cache is not None else Path("~/.cache/clip").expanduser()
        return (folder / os.path.basename(cfg["url"])).is_file()
    return False


@contextmanager
def _dropped_log_lines(prefix: str):
    """Root-logger records starting with ``prefix`` are dropped: open_clip logs ``Failed to
    download ...`` before raising (our error, with the fix, is the one message a user should see)
    and "No pretrained weights loaded" for a model built without weights (ours are loaded next)."""
    def drop(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(prefix)

    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def _create(name: str, pretrained: str | None, hint: str, **kwargs):
    """open_clip's model with its weights. When weights are named (a tag, a hub id, a file), open_clip
    must load them strictly (``require_pretrained``), so random initial weights are not drawn first."""
    weighted = pretrained is not None or name.startswith(open_clip.factory.HF_HUB_PREFIX)
    try:
        with no_random_init() if weighted else nullcontext(), _dropped_log_lines("Failed to download"):
            model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained,
                                                                         require_pretrained=weighted, **kwargs)
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


def _config_quick_gelu(name: str) -> bool:
    return bool((open_clip.get_model_config(name) or {}).get("quick_gelu", False))


def _load_local(name: str, weights: _Weights):
    path = weights.path
    if _is_torchscript_archive(path):
        # open_clip rebuilds OpenAI's archives from their state dict with QuickGELU, whatever --model says
        try:
            model = open_clip.load_openai_model(str(path), precision="fp32", device="cpu")
        except Exception as err:
            raise ModelLoadError(f"--pretrained {path}: not a loadable OpenAI CLIP archive ({err})") from err
        preprocess = open_clip.image_transform(model.visual.image_size, is_train=False)
        return model, preprocess
    keys = _checkpoint_keys(path)
    openai_format = keys is not None and all(k in keys for k in OPENAI_MARKERS)
    needed = _activation_of(path, weights.weights_id.removeprefix("sha256:"), openai_format)
    if needed is not None and needed[0] != _config_quick_gelu(name):
        raise ModelLoadError(_activation_mismatch(name, weights.label, *needed))
    def wrong_architecture(err: Exception) -> ModelLoadError:
        detail = " ".join(str(err).split())  # torch lists missing/unexpected keys over many lines
        return ModelLoadError(f"--pretrained {path}: cannot load it into {name!r} ({type(err).__name__}: {detail}). "
                              "Check that --model names the checkpoint's architecture.")

    if not openai_format:
        try:
            with no_random_init():
                model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(path),
                                                                             require_pretrained=True)
        except Exception as err:
            raise wrong_architecture(err) from err
        return model, preprocess
    # open_clip loads the markers strictly (and fails) unless the file is a TorchScript archive;
    # the strict load below overwrites every weight
    with _dropped_log_lines("No pretrained weights loaded"), no_random_init():
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None)
    try:
        state = open_clip.factory.load_state_dict(str(path))  # unwraps "state_dict" and "module." as open_clip does
        model.load_state_dict({k: v for k, v in state.items() if k not in OPENAI_MARKERS}, strict=True)
    except Exception as err:
        raise wrong_architecture(err) from err
    return model, preprocess


def _checkpoint_keys(path: Path) -> set[str] | None:
    """The state dict's keys as open_clip's load_state_dict unwraps them, read cheaply (safetensors
    header, or torch.load memory-mapped); None when torch cannot read it, left to open_clip to report."""
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                keys = list(f.keys())
        else:
            try:
                checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except Exception:  # files in torch's legacy (non-zip) format cannot be memory-mapped
                checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
                checkpoint = checkpoint["state_dict"]
            if not isinstance(checkpoint, dict):
                return None
            keys = list(checkpoint)
    except Exception:
        return None
    if keys and str(keys[0]).startswith("module"):
        keys = [k[7:] for k in keys]
    return set(keys)


def _activation_of(path: Path, sha256: str, openai_format: bool) -> tuple[bool, str] | None:
    """(whether the weights need QuickGELU, how we know) when something reliable says so, else None."""
    if openai_format:
        return True, "it is an OpenAI state dict (it has OpenAI's input_resolution/context_length/vocab_size entries)"
    folders = list(dict.fromkeys([path.parent, path.resolve().parent]))
    for folder in folders:
        config = _hub_config(folder / "open_clip_config.json")
        if config is not None:
            quick = bool(config.get("quick_gelu", False))
            return quick, f"{folder / 'open_clip_config.json'} says quick_gelu: {str(quick).lower()}"
    repos = {part[len("models--"):].replace("--", "/") for folder in folders for part in folder.parts
             if part.startswith("models--")}  # Hugging Face cache folders: models--ORG--REPO
    for model, tag, cfg in _pretrained_table():
        hub_repo = os.path.split(cfg.get("hf_hub", ""))[0]  # as open_clip's download_pretrained splits it
        if hub_repo and hub_repo in repos:
            return bool(cfg.get("quick_gelu", False)), f"it is from {hub_repo}, open_clip's {model} {tag!r} weights"
        expected = _url_sha256(cfg.get("url", ""))
        if expected and sha256.startswith(expected):
            return bool(cfg.get("quick_gelu", False)), f"its sha256 is that of open_clip's {model} {tag!r} download"
    return None


def _hub_config(config_path: Path) -> dict | None:
    """The model_cfg of a Hugging Face snapshot's open_clip_config.json (how open_clip marks the
    hub copies of OpenAI's weights: quick_gelu true), or None."""
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        return None
    model_cfg = config.get("model_cfg") if isinstance(config, dict) else None
    return model_cfg if isinstance(model_cfg, dict) else None


def _pretrained_table():
    """(model, tag, cfg) for open_clip's pretrained weights, without the ``-quickgelu`` names
    (open_clip's copies of the base names' quick_gelu entries)."""
    for model, tag in open_clip.list_pretrained():
        if not model.endswith("-quickgelu"):
            yield model, tag, open_clip.get_pretrained_cfg(model, tag)


def _url_sha256(url: str) -> str:
    """The sha256 (OpenAI's archives) or sha256 prefix (mlfoundations releases) that open_clip's
    download_pretrained_from_url checks a download against; "" for other URLs."""
    if "openaipublic" in url:
        expected = url.split("/")[-2]
    elif "mlfoundations" in url:
        expected = os.path.splitext(os.path.basename(url))[0].split("-")[-1]
    else:
        return ""
    return expected if len(expected) >= 8 and re.fullmatch(r"[0-9a-f]+", expected) else ""


def _activation_mismatch(name: str, pretrained: str, quick: bool, why: str) -> str:
    models = open_clip.list_models()
    if quick:
        other = f"{name}-quickgelu"
        fix = (f"use --model {other}" if other in models else
               f"open_clip has no QuickGELU config for {name!r}: register a copy of its config with \"quick_gelu\": true "
               "and pass that as --model")
        return f"--pretrained {pretrained}: these weights were trained with QuickGELU ({why}) but --model {name} builds GELU; {fix}"
    other = name.removesuffix("-quickgelu")
    fix = (f"use --model {other}" if other != name and other in models else
           "pass a --model whose config has no quick_gelu")
    return f"--pretrained {pretrained}: these weights were trained with GELU ({why}) but --model {name} builds QuickGELU; {fix}"


