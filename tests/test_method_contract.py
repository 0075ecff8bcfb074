"""The method contract, tested for every registered method (as timm tests every registered model):
a new method is covered by these tests without writing one.

- on a tiny toy dataset (``--limit``, 1 shot where few-shot) the runner gets logits of shape
  [N, C], finite, and the same logits from the same seed, each run from an empty cache;
- every declared choice and range is enforced: a bad ``--set`` value (one per declared limit)
  fails with the config error before any dataset or model is loaded;
- the method registry's index (read from ``@register_method`` decorators, without imports) names
  exactly the methods the modules register.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
import sys
import typing
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from zsbench.harness.core.config import ConfigError, field_limits, field_types
from zsbench.harness.core.registry import METHODS
from zsbench.harness.evaluation import runner as runner_module
from zsbench.harness.evaluation.runner import Runner, RunSpec
from zsbench.harness.results.predictions import predictions_path
from zsbench.methods import builtin_methods
from zsbench.methods.base import Need

#: Overrides a method needs offline: ZPE's default pool is the reference's file, downloaded on
#: first use, so the contract runs on the pool zsbench ships.
OFFLINE = {"zpe": ["pool=shipped"], "zpe-select": ["pool=shipped"], "zpe-equal": ["pool=shipped"]}
LIMIT = 12


def run_logits(tmp_path, method: str, seed: int, tag: str) -> tuple[torch.Tensor, dict]:
    """The logits (and the results row) the runner saved for ``method`` on 12 toy images (seed ``seed``), from an empty cache."""
    cls = METHODS.get(method)
    shots = 1 if Need.FEWSHOT in cls.needs else 0
    spec = RunSpec(methods=[method], datasets=["toy"], shots=shots, seeds=(seed,), limit=LIMIT, latency_images=0,
                   overrides=OFFLINE.get(method, []), results_dir=tmp_path / tag / "results",
                   cache_dir=tmp_path / tag / "cache", save_logits=True, leaderboard=tmp_path / tag / "lb.md")
    (evaluation,) = Runner(spec).run()
    row = evaluation.row
    table = pq.read_table(predictions_path(spec.results_dir, row["eval_id"]), columns=["logits"])
    logits = torch.tensor(table.column("logits").combine_chunks().flatten().to_numpy(zero_copy_only=False))
    return logits.view(row["n_images"], -1).float(), row


@pytest.mark.parametrize("method", METHODS.names())
def test_logits_have_the_contracts_shape_are_finite_and_deterministic(tmp_path, method):
    first, row = run_logits(tmp_path, method, seed=1, tag="a")
    again, _ = run_logits(tmp_path, method, seed=1, tag="b")
    assert first.shape == (row["n_images"], row["n_classes"])
    assert row["n_images"] == LIMIT or row["classes"] != "all"  # base-to-new scores a subset of the 12
    assert torch.isfinite(first).all()
    assert torch.equal(first, again)
    assert math.isfinite(row["acc1"]) and 0 <= row["acc1"] <= 100


def _bad_values(method: str) -> list[tuple[str, str, str]]:
    """(field, a value outside its declared limits, what the error must say) for every declared limit."""
    config = METHODS.get(method).Config
    types = field_types(config)
    cases = []
    for field in dataclasses.fields(config):
        limits = field_limits(field, types[field.name])
        if limits.get("choices"):
            cases.append((field.name, "no-such-choice", "is not one of"))
        for key, bad, says in (("ge", lambda b: b - 1, ">="), ("gt", lambda b: b, ">"), ("le", lambda b: b + 1, "<="),
                               ("lt", lambda b: b, "<")):
            bound = limits.get(key)
            if bound is None:
                continue
            value = bad(bound)
            text = str(int(value)) if _is_int(types[field.name]) and float(value).is_integer() else str(value)
            if isinstance(field.default, tuple):  # every element of a tuple is checked: make the first one bad
                text = ",".join([text, *map(str, field.default[1:])])
            cases.append((field.name, text, says))
    return cases


def _is_int(annotation) -> bool:
    """``int`` or ``int | None`` (a tuple's items are floats in every built-in config)."""
    return annotation is int or int in typing.get_args(annotation)


BAD_VALUES = [(m, *case) for m in METHODS.names() for case in _bad_values(m)]


def test_every_method_declares_its_limits():
    assert {m for m, *_ in BAD_VALUES} == set(METHODS.names())


@pytest.fixture
def no_model_work(monkeypatch):
    """Fail the test if the runner gets as far as building a dataset or loading a model."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the bad --set value got past the config check")

    monkeypatch.setattr(runner_module, "load_model", forbidden)
    monkeypatch.setattr(Runner, "_datasets", forbidden)


@pytest.mark.parametrize("method,key,value,says", BAD_VALUES, ids=[f"{m}-{k}={v}" for m, k, v, _ in BAD_VALUES])
def test_a_bad_set_value_fails_before_any_model_work(tmp_path, no_model_work, method, key, value, says):
    spec = RunSpec(methods=[method], suite="toy", shots=1, overrides=[f"{key}={value}"], results_dir=tmp_path / "results")
    with pytest.raises(ConfigError) as err:
        Runner(spec).run()
    message = str(err.value)
    assert message.startswith(f"--set {key}={value} (method {method!r})") and says in message


def test_the_method_index_names_exactly_what_the_modules_register():
    METHODS._load()  # import every indexed module
    registered = {name: cls.__module__ for name, cls in METHODS._items.items() if cls.__module__.startswith("zsbench.")}
    assert registered == builtin_methods()
    for name, cls in METHODS.items():
        assert cls.name == name, f"{cls.__qualname__}.name is {cls.name!r}, registered as {name!r}"


README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.fixture
def readme_method(tmp_path):
    """The README's worked example of adding a method (one file), imported as written."""
    block = re.search(r"<!-- readme-example: method -->\n```python\n(.*?)```", README, re.S)
    assert block, "README.md lost its method example"
    path = tmp_path / "prompt_max.py"
    path.write_text(block.group(1))
    spec = importlib.util.spec_from_file_location("readme_prompt_max", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        METHODS._items.pop("clip-max", None)
        sys.modules.pop(spec.name, None)


def test_the_readme_method_runs_and_checks_its_config(tmp_path, readme_method):
    logits, row = run_logits(tmp_path, "clip-max", seed=1, tag="a")
    assert logits.shape == (LIMIT, row["n_classes"]) and torch.isfinite(logits).all()
    assert row["config_json"] == '{"logit_scale": 100.0, "pooling": "max"}'
    method = readme_method.PromptMax(readme_method.PromptMax.Config(pooling="mean"))
    method.text = torch.nn.functional.normalize(torch.randn(3, 2, 8), dim=-1)
    features = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    expected = 100 * torch.einsum("nd,ctd->nct", features, method.text).mean(-1)
    assert torch.allclose(method.logits_from_features(features), expected)
    with pytest.raises(ConfigError, match="'min' is not one of max, mean"):
        Runner(RunSpec(methods=["clip-max"], suite="toy", overrides=["pooling=min"], results_dir=tmp_path / "r")).run()
