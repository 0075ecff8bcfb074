"""toy-clip: a small open_clip model registered as an open_clip config, with a word-level BPE
vocabulary fitted to the toy world (the 49408-token CLIP vocabulary would make the token
embedding most of the parameters), and its committed trained weights.

The artifact is three files beside this module: ``toy-clip.json`` (open_clip model config),
``toy_bpe.txt.gz`` (BPE merges for open_clip's ``SimpleTokenizer``) and ``toy-clip.safetensors``
(weights, fp16), described by ``toy-clip.manifest.json`` (content hashes and training config).
"""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import open_clip

from zsbench.harness.core.hashing import file_sha256
from zsbench.harness.core.registry import register_model_loader
from zsbench.harness.models.loading import ModelLoader

from .text import vocabulary

HERE = Path(__file__).resolve().parent
MODEL_NAME = "toy-clip"
CONFIG_PATH = HERE / "toy-clip.json"
BPE_PATH = HERE / "toy_bpe.txt.gz"
WEIGHTS_PATH = HERE / "toy-clip.safetensors"
MANIFEST_PATH = HERE / "toy-clip.manifest.json"


def bpe_merges(words: list[str]) -> list[tuple[str, str]]:
    """Learn BPE merges on the word list until every word is a single symbol (most frequent pair
    first, ties broken by the pair itself), so that every toy word encodes as one token."""
    pieces = [tuple(w[:-1]) + (w[-1] + "</w>",) for w in words]
    merges: list[tuple[str, str]] = []
    while True:
        counts: dict[tuple[str, str], int] = {}
        for p in pieces:
            for pair in zip(p, p[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            return merges
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        joined = best[0] + best[1]
        merged = []
        for p in pieces:
            out, i = [], 0
            while i < len(p):
                if i + 1 < len(p) and (p[i], p[i + 1]) == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(p[i])
                    i += 1
            merged.append(tuple(out))
        pieces = merged


def bpe_file_bytes() -> bytes:
    """The gzipped merges file, byte-for-byte reproducible (gzip mtime fixed at 0)."""
    lines = ["#version: toy-0.1"] + [f"{a} {b}" for a, b in bpe_merges(vocabulary())]
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write("\n".join(lines).encode())
    return buf.getvalue()


def vocab_size() -> int:
    return 2 * 256 + len(bpe_merges(vocabulary())) + 2


def register() -> None:
    """Make ``toy-clip`` known to open_clip (idempotent)."""
    if MODEL_NAME not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_PATH)


def tokenizer():
    register()
    return open_clip.SimpleTokenizer(bpe_path=str(BPE_PATH), context_length=open_clip.get_model_config(MODEL_NAME)["text_cfg"]["context_length"])


def manifest() -> dict:
    return json.loads(MANIFEST_PATH.read_text())


def load(weights: Path | None = None):
    """(model in eval mode, evaluation transform) with the committed (or given) weights."""
    register()
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME, pretrained=str(weights or WEIGHTS_PATH))
    return model.eval(), preprocess


class ToyClipLoader(ModelLoader):
    """``--model toy-clip``: the committed weights (identified by the file's content, not the
    manifest's claim about it), or ``--pretrained PATH`` to a retrained copy."""

    def committed_weights_id(self) -> str:
        return file_sha256(WEIGHTS_PATH)

    def register_config(self) -> None:
        register()

    def load_committed(self):
        return load()

    def tokenizer(self):
        return tokenizer()


register_model_loader(MODEL_NAME)(ToyClipLoader())
