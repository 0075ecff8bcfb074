"""Trimmed-padding text encoding equals open_clip's encode_text, and classifiers are cached."""
from __future__ import annotations

import open_clip
import pytest
import torch
import torch.nn.functional as F

from zsbench.harness.core.feature_cache import FeatureCache
from zsbench.harness.models.loading import LoadedModel
from zsbench.harness.models.text_encoding import TextEncoder, encode_text_trimmed, supports_trimming

PROMPTS = ["a photo of a dog.", "a bad photo of the large, fluffy golden retriever puppy.", "x", "a picture of a circle."]


def _random_vit_b32() -> LoadedModel:
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32").eval()
    return LoadedModel(model, None, open_clip.get_tokenizer("ViT-B-32"), "ViT-B-32", "none", "random", torch.device("cpu"), "fp32")


def test_trimmed_equals_encode_text_on_clip_text_tower():
    loaded = _random_vit_b32()
    tokens = loaded.tokenizer(PROMPTS)
    with torch.no_grad():
        full = loaded.model.encode_text(tokens)
        trimmed = encode_text_trimmed(loaded.model, tokens)
    assert supports_trimming(loaded.model)
    assert torch.allclose(full, trimmed, atol=1e-4), (full - trimmed).abs().max()


def test_encoder_keeps_prompt_order_and_normalises(toy_model):
    enc = TextEncoder(toy_model, cache=None, batch_size=2)  # several batches, sorted by length inside
    prompts = ["a circle.", "there is a small red striped five-pointed star on a cluttered background.", "a ring.", "the heart."]
    feats = enc.encode(prompts)
    with torch.no_grad():
        ref = F.normalize(toy_model.model.encode_text(toy_model.tokenizer(prompts)), dim=-1)
    assert torch.allclose(feats, ref, atol=1e-5)
    assert torch.allclose(feats.norm(dim=-1), torch.ones(4), atol=1e-5)


def test_classifier_is_cached_and_is_the_renormalised_mean(toy_model, tmp_path):
    cache = FeatureCache(tmp_path)
    enc = TextEncoder(toy_model, cache=cache)
    w1 = enc.classifier(["circle", "ring"], ["a picture of a {}.", "an image of a {}."])
    w2 = TextEncoder(toy_model, cache=cache).classifier(["circle", "ring"], ["a picture of a {}.", "an image of a {}."])
    assert cache.misses == 1 and cache.hits == 1
    assert torch.equal(w1, w2)
    per = enc.encode(["a picture of a circle.", "an image of a circle."])
    assert torch.allclose(w1[0], F.normalize(per.mean(0), dim=-1), atol=1e-6)


def test_fallback_for_towers_that_cannot_be_trimmed(toy_model):
    class NoMask(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.calls = 0

        def encode_text(self, tokens):
            self.calls += 1
            return self.inner.encode_text(tokens)

    wrapped = NoMask(toy_model.model)
    loaded = LoadedModel(wrapped, None, toy_model.tokenizer, "x", "y", "z", torch.device("cpu"), "fp32")
    enc = TextEncoder(loaded, cache=None)
    assert not enc.trimmed
    enc.encode(["a circle."])
    assert wrapped.calls == 1


@pytest.mark.parametrize("n", [1, 7])
def test_encode_handles_any_count(toy_model, n):
    assert TextEncoder(toy_model).encode(["a circle."] * n).shape == (n, 128)
