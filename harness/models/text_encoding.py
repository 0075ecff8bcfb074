"""Text features for prompts and class descriptions, encoded fast and cached.

open_clip's ``encode_text`` always runs all context positions (77 for CLIP). For a causal text
tower pooled at the EOT token, the features there do not depend on the padding after it, so
prompts sorted by length and encoded with the padding trimmed to each batch's longest prompt
give the same features several times faster. Towers where that does not hold (HF text models,
non-causal masks, 'last'/'first' pooling) fall back to ``encode_text``.
"""
from __future__ import annotations

import hashlib
import json
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from zsbench.harness.core.feature_cache import FeatureCache


def supports_trimming(model: torch.nn.Module) -> bool:
    return (
        hasattr(model, "token_embedding")
        and getattr(model, "attn_mask", None) is not None
        and getattr(model, "text_pool_type", None) in ("argmax", "eos")
    )


def eot_positions(model, tokens: torch.Tensor) -> torch.Tensor:
    """Position of each prompt's end-of-text token (where a causal text tower pools)."""
    if model.text_pool_type == "eos":
        return (tokens == model.text_eos_id).int().argmax(-1)
    return tokens.argmax(-1)


def encode_text_trimmed(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Same result as ``model.encode_text(tokens)``, computing only up to the longest EOT."""
    length = int(eot_positions(model, tokens).max()) + 1
    tokens = tokens[:, :length]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), eot_positions(model, tokens)]
    if model.text_projection is not None:
        x = model.text_projection(x) if isinstance(model.text_projection, torch.nn.Linear) else x @ model.text_projection
    return x


class TextEncoder:
    """Encodes prompts with a loaded model: length-sorted batches, trimmed padding, L2-normalised
    fp32 output on the CPU, cached on disk by (model weights, exact prompt list)."""

    def __init__(self, loaded, cache: FeatureCache | None = None, batch_size: int = 256, progress: Callable | None = None):
        self.loaded = loaded
        self.cache = cache
        self.batch_size = batch_size
        self.progress = progress
        self.trimmed = supports_trimming(loaded.model)

    @torch.no_grad()
    def _encode_uncached(self, prompts: Sequence[str]) -> torch.Tensor:
        model, dev = self.loaded.model, self.loaded.device
        tokens = self.loaded.tokenizer(list(prompts))
        # Length-sorted batches waste the least compute on padding once it is trimmed.
        order = torch.argsort((tokens != 0).sum(-1), stable=True) if self.trimmed else torch.arange(len(prompts))
        advance = self.progress("encoding prompts", len(prompts)) if self.progress else None
        chunks = []
        for start in range(0, len(prompts), self.batch_size):
            batch = tokens[order[start:start + self.batch_size]].to(dev)
            with self.loaded.autocast():
                feats = encode_text_trimmed(model, batch) if self.trimmed else model.encode_text(batch)
            chunks.append(F.normalize(feats.float(), dim=-1).cpu())
            if advance:
                advance(len(batch))
        out = torch.empty(len(prompts), chunks[0].shape[1]) if chunks else torch.empty(0, 0)
        if chunks:
            out[order] = torch.cat(chunks)
        return out

    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        """[N, D] normalised features of ``prompts`` (in the given order)."""
        prompts = list(prompts)
        if self.cache is None:
            return self._encode_uncached(prompts)
        key = self.cache.key(kind="text", model=self.loaded.identity, prompts=hashlib.sha256(json.dumps(prompts).encode()).hexdigest(),
                             trimmed=self.trimmed)
        return self.cache.get_or_compute(key, lambda: {"features": self._encode_uncached(prompts)})["features"]

    def classifier(self, classnames: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
        """[C, D] zero-shot weights: per class, the renormalised mean of its normalised prompts."""
        prompts = [t.format(c) for c in classnames for t in templates]
        feats = self.encode(prompts).view(len(classnames), len(templates), -1)
        return F.normalize(feats.mean(1), dim=-1)
