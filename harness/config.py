"""Method hyperparameters: dataclass defaults, ``--set key=value`` overrides, and the config hash.

Every hyperparameter a method uses is a field of its ``Config`` dataclass. The JSON of the final
config (sorted keys) and its hash are written into every results row, so a number can always be
traced back to the exact settings that produced it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from typing import Any


class ConfigError(ValueError):
    """A bad ``--set`` override; the message names the flag and the valid keys."""


def parse_overrides(pairs: list[str]) -> list[tuple[str | None, str, str]]:
    """``["abs.top_k=10", "seed_views=3"]`` -> ``[("abs", "top_k", "10"), (None, "seed_views", "3")]``."""
    parsed = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected key=value (or method.key=value)")
        method, dot, name = key.rpartition(".")
        parsed.append((method if dot else None, name, value))
    return parsed


def _coerce(text: str, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if text.lower() in ("none", "null", ""):
            return None
        return _coerce(text, args[0], where)
    if annotation is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: {text!r} is not a boolean (use true/false)")
    if annotation in (int, float, str):
        try:
            return annotation(text)
        except ValueError:
            raise ConfigError(f"{where}: {text!r} is not a valid {annotation.__name__}") from None
    if origin in (list, tuple):
        item_type = args[0] if args else str
        items = [_coerce(t.strip(), item_type, where) for t in text.split(",") if t.strip()]
        return tuple(items) if origin is tuple else items
    return text


def build_config(method_name: str, config_cls: type, overrides: dict[str, str]):
    """Instantiate ``config_cls`` with its defaults and the string ``overrides`` coerced to type."""
    hints = typing.get_type_hints(config_cls)
    fields = {f.name for f in dataclasses.fields(config_cls)}
    values = {}
    for key, text in overrides.items():
        if key not in fields:
            valid = ", ".join(sorted(fields)) or "(none)"
            raise ConfigError(f"--set {key}={text}: method {method_name!r} has no hyperparameter {key!r}; valid: {valid}")
        values[key] = _coerce(text, hints[key], f"--set {key}={text} (method {method_name!r})")
    return config_cls(**values)


def config_json(config) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)


def config_hash(method_name: str, config) -> str:
    payload = json.dumps({"method": method_name, "config": json.loads(config_json(config))}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def split_overrides(method_names: list[str], configs: dict[str, type], pairs: list[str]) -> dict[str, dict[str, str]]:
    """Route ``--set`` pairs to methods: ``m.key=v`` to method m, bare ``key=v`` to every selected
    method that has ``key`` (an error if none has it)."""
    routed: dict[str, dict[str, str]] = {m: {} for m in method_names}
    for method, key, value in parse_overrides(pairs):
        if method is not None:
            if method not in routed:
                raise ConfigError(f"--set {method}.{key}={value}: method {method!r} is not selected (--method {','.join(method_names)})")
            routed[method][key] = value
            continue
        takers = [m for m in method_names if key in {f.name for f in dataclasses.fields(configs[m])}]
        if not takers:
            raise ConfigError(f"--set {key}={value}: none of the selected methods ({', '.join(method_names)}) has a hyperparameter {key!r}")
        for m in takers:
            routed[m][key] = value
    return routed
