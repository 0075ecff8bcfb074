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
def fewshot_inputs(tmp_path, toy_model):
    """``build(dataset="toy", shots=2, seed=1, test_images=None)``: the :class:`MethodInputs` the
    runner hands a few-shot method, built with the runner's own helpers on the toy model; every call
    in one test shares one feature cache (so a shifted domain reuses its source's fitted state)."""
    import functools

    from zsbench.harness.core.registry import DATASETS
    from zsbench.harness.evaluation.runner import Runner, RunSpec
    from zsbench.harness.models.text_encoding import TextEncoder
    from zsbench.methods.base import MethodInputs

    def build(dataset: str = "toy", shots: int = 2, seed: int = 1, test_images: int | None = None) -> MethodInputs:
        runner = Runner(RunSpec(methods=[], datasets=[dataset], shots=shots, cache_dir=tmp_path / "cache"))
        data = DATASETS.get(dataset)()
        features = None
        if test_images is not None:
            features = runner._encode(toy_model, data.split(data.test_split).subset(range(test_images)))
        return MethodInputs(dataset=data, model=toy_model, text=TextEncoder(toy_model, runner.cache), seed=seed,
                            shots=shots, image_features=features, fewshot=runner._fewshot(data, shots, seed),
                            encode_images=functools.partial(runner._encode, toy_model), cache=runner.cache)

    return build


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
