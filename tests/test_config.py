"""Hyperparameters: typed --set overrides, routing to methods, clear errors, stable hashes."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import pytest

from zsbench.harness.core.config import (ConfigError, build_config, config_hash, config_json, declared_range, field_types,
                                         literal_choices, param, split_overrides)


@dataclass
class Cfg:
    top_k: int = 20
    temperature: float = 0.03
    faithful: bool = True
    source: str | None = None
    sizes: tuple[float, ...] = (0.6, 0.9)


def test_overrides_are_coerced_to_field_types():
    cfg = build_config("m", Cfg, {"top_k": "10", "temperature": "0.5", "faithful": "false", "source": "none", "sizes": "0.5,0.8"})
    assert cfg == Cfg(top_k=10, temperature=0.5, faithful=False, source=None, sizes=(0.5, 0.8))


@pytest.mark.parametrize("key,value,message", [
    ("nope", "1", "has no hyperparameter 'nope'; valid: faithful, sizes, source, temperature, top_k"),
    ("top_k", "ten", "'ten' is not a valid int"),
    ("faithful", "maybe", "not a boolean"),
])
def test_bad_overrides_name_the_flag(key, value, message):
    with pytest.raises(ConfigError, match=message) as err:
        build_config("m", Cfg, {key: value})
    assert f"--set {key}={value}" in str(err.value)


def test_routing_bare_and_qualified_keys():
    @dataclass
    class Other:
        top_k: int = 5
        alpha: float = 1.0

    routed = split_overrides(["a", "b"], {"a": Cfg, "b": Other}, ["top_k=3", "b.alpha=2"])
    assert routed == {"a": {"top_k": "3"}, "b": {"top_k": "3", "alpha": "2"}}
    with pytest.raises(ConfigError, match="none of the selected methods"):
        split_overrides(["a"], {"a": Cfg}, ["alpha=1"])
    with pytest.raises(ConfigError, match="not selected"):
        split_overrides(["a"], {"a": Cfg}, ["c.alpha=1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        split_overrides(["a"], {"a": Cfg}, ["top_k"])


def test_config_hash_is_stable_and_sensitive():
    assert config_hash("m", Cfg()) == config_hash("m", Cfg())
    assert config_hash("m", Cfg()) != config_hash("m", Cfg(top_k=21))
    assert config_hash("m", Cfg()) != config_hash("n", Cfg())
    assert config_json(Cfg(top_k=3)).startswith('{"faithful": true, "sizes": [0.6, 0.9]')


@dataclass
class Choices:
    mode: Literal["both", "test", "none"] = "both"
    side: Literal["base", "new"] | None = None
    levels: tuple[Literal["low", "high"], ...] = ("low",)
    size: int = param(4, ge=1, le=8)


def test_literal_overrides_are_coerced_and_checked():
    cfg = build_config("m", Choices, {"mode": "test", "side": "new", "levels": "high,low"})
    assert cfg == Choices(mode="test", side="new", levels=("high", "low"))
    assert build_config("m", Choices, {"side": "none"}).side is None


@pytest.mark.parametrize("key,value,message", [
    ("mode", "tset", r"'tset' is not one of both, test, none \(did you mean test\?\); default both"),
    ("mode", "TEST", "'TEST' is not one of both, test, none"),
    ("side", "old", "'old' is not one of base, new"),
    ("levels", "low,mid", "'mid' is not one of low, high"),
    ("size", "9", "must be <= 8, got 9"),
])
def test_bad_choices_and_ranges_name_the_flag(key, value, message):
    with pytest.raises(ConfigError, match=message) as err:
        build_config("m", Choices, {key: value})
    assert str(err.value).startswith(f"--set {key}={value} (method 'm'): ")


def test_declared_range_reads_literal_choices():
    types = field_types(Choices)
    described = {f.name: declared_range(f, types[f.name]) for f in dataclasses.fields(Choices)}
    assert described == {"mode": "one of both, test, none", "side": "one of base, new", "levels": "one of low, high",
                         "size": ">= 1, <= 8"}
    assert literal_choices(types["size"]) is None
