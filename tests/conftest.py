"""Test-wide setup: no network, a private feature cache, and the repository root kept off
sys.path so that ``import datasets`` is always the Hugging Face library, never our datasets/."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT]
REFERENCE = REPO_ROOT.parent / "shared" / "reference"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test gets an empty feature cache unless it shares one explicitly."""
    monkeypatch.setenv("ZSBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def toy_model():
    from zsbench.harness.models.loading import load_model

    return load_model("toy-clip", None, "cpu")


@pytest.fixture
def counted_models(monkeypatch):
    """Every model a Runner loads, each with ``.calls``: the images its image encoder has seen."""
    from zsbench.harness.evaluation import runner as runner_module

    real_load, models = runner_module.load_model, []

    def load(*args, **kwargs):
        loaded = real_load(*args, **kwargs)
        loaded.calls, original = 0, loaded.model.encode_image

        def encode_image(pixels, *a, **k):
            loaded.calls += len(pixels)
            return original(pixels, *a, **k)

        loaded.model.encode_image = encode_image
        models.append(loaded)
        return loaded

    monkeypatch.setattr(runner_module, "load_model", load)
    return models
