"""Hyperparameters: typed --set overrides, routing to methods, clear errors, stable hashes."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from zsbench.harness.core.config import ConfigError, build_config, config_hash, config_json, split_overrides


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
