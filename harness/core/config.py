"""Method hyperparameters: dataclass defaults, declared choices and ranges, ``--set key=value``
overrides, and the config hash.

Every hyperparameter a method uses is a field of its ``Config`` dataclass. A field with a fixed set
of values says so in its type, ``debias: Literal["both", "test"] = "both"``; a numeric range is
declared next to the field with :func:`param` (``param(10, ge=1)``). :func:`build_config` coerces the
overrides to the field types and checks every choice, every declared range, and that every float is
finite, so a bad value fails with a :class:`ConfigError` naming the flag before any model work. A
``Config`` may add cross-field checks in ``__post_init__`` (raising :class:`ConfigError`). The JSON
of the final config (sorted keys) and its hash are written into every results row, so a number can
always be traced back to the exact settings that produced it.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import numbers
import typing
from pathlib import Path
from typing import Any

from zsbench.harness.core.errors import UserError
from zsbench.harness.core.hashing import file_sha256


class ConfigError(UserError, ValueError):
    """A bad ``--set`` override; the message names the flag and the valid keys."""


def param(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
          lt: float | None = None, nonempty: bool = False):
    """A ``Config`` field with its declared range: numeric bounds (``ge``/``gt``/``le``/``lt``,
    applied to every element of a tuple), ``nonempty`` (tuples). Choices are declared in the type
    (``Literal[...]``), not here."""
    limits = {"ge": ge, "gt": gt, "le": le, "lt": lt, "nonempty": nonempty}
    return dataclasses.field(default=default, metadata={"zsbench": limits})


def literal_choices(annotation: Any) -> tuple | None:
    """The allowed values of a ``Literal[...]`` type, also inside ``Optional`` and tuple/list item
    types; None when the type declares no choices."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    for arg in typing.get_args(annotation):
        if arg is not type(None) and arg is not Ellipsis:
            found = literal_choices(arg)
            if found is not None:
                return found
    return None


def field_types(config_cls: type) -> dict[str, Any]:
    """``{field name: resolved type}`` of a ``Config`` dataclass (string annotations evaluated)."""
    return typing.get_type_hints(config_cls)


def field_limits(field: dataclasses.Field, annotation: Any = None) -> dict:
    """Everything declared about a field's values: ``choices`` (from its ``Literal`` type) and the
    bounds of :func:`param`."""
    return {**field.metadata.get("zsbench", {}), "choices": literal_choices(annotation)}


def declared_range(field: dataclasses.Field, annotation: Any = None) -> str:
    """The range of a field in words ("> 0", "one of both, test"), "" when none is declared;
    ``annotation`` is the field's resolved type (for its ``Literal`` choices)."""
    limits = field_limits(field, annotation)
    parts = []
    if limits.get("choices"):
        parts.append("one of " + ", ".join(map(str, limits["choices"])))
    for key, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if limits.get(key) is not None:
            parts.append(f"{sign} {limits[key]:g}")
    if limits.get("nonempty"):
        parts.append("not empty")
    return ", ".join(parts)


def _format(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


def _check_value(field: dataclasses.Field, value: Any, annotation: Any = None) -> str | None:
    """Why ``value`` is outside the field's declared choices or range (None when it is fine)."""
    limits = field_limits(field, annotation)
    if value is None:
        return None
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    if limits.get("nonempty") and not items:
        return "must not be empty"
    choices = limits.get("choices")
    for item in items:
        if choices and item not in choices:
            close = difflib.get_close_matches(str(item), [str(c) for c in choices], n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return f"{item!r} is not one of {', '.join(map(str, choices))}{hint}"
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            continue
        if isinstance(item, float) and not math.isfinite(item):
            return f"{item} is not a finite number"
        for key, ok, sign in (("ge", lambda a, b: a >= b, ">="), ("gt", lambda a, b: a > b, ">"),
                              ("le", lambda a, b: a <= b, "<="), ("lt", lambda a, b: a < b, "<")):
            bound = limits.get(key)
            if bound is not None and not ok(item, bound):
                return f"must be {sign} {bound:g}, got {item:g}"
    return None


def validate_config(method_name: str, config, overrides: dict[str, str] | None = None) -> None:
    """Check every field of ``config`` against its declared choices and range; the error names the ``--set``
    flag as typed (or the default, for a bad default), the range and the default."""
    overrides = overrides or {}
    types = field_types(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        _check_field(method_name, field, value, types.get(field.name), overrides.get(field.name, _format(value)))


def _check_field(method_name: str, field: dataclasses.Field, value: Any, annotation: Any, shown: str) -> None:
    """:class:`ConfigError` naming ``--set field=shown`` when ``value`` is outside the declared limits."""
    problem = _check_value(field, value, annotation)
    if problem is not None:
        default = field.default if field.default is not dataclasses.MISSING else None
        raise ConfigError(f"--set {field.name}={shown} (method {method_name!r}): {problem}; default {_format(default)}")


def config_files(config) -> dict[str, str]:
    """``{field: sha256}`` of every file a config names (a string field holding the path of an
    existing file), so that an edited file is a new evaluation."""
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, str) and value and Path(value).expanduser().is_file():
            out[field.name] = file_sha256(Path(value).expanduser())
    return out


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
    if origin is typing.Literal:  # the choice spelled as typed; an unlisted one is reported by validate_config
        return next((choice for choice in typing.get_args(annotation) if _format(choice) == text), text)
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
    hints = field_types(config_cls)
    fields = {f.name for f in dataclasses.fields(config_cls)}
    values = {}
    for key, text in overrides.items():
        if key not in fields:
            valid = ", ".join(sorted(fields)) or "(none)"
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"--set {key}={text}: method {method_name!r} has no hyperparameter {key!r}{hint}; valid: {valid}")
        values[key] = _coerce(text, hints[key], f"--set {key}={text} (method {method_name!r})")
    declared = {f.name: f for f in dataclasses.fields(config_cls)}
    for key, value in values.items():  # each value against its own limits first, then the config's cross-field checks
        _check_field(method_name, declared[key], value, hints[key], overrides[key])
    try:
        config = config_cls(**values)
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"--set for method {method_name!r}: {err}") from None
    validate_config(method_name, config, overrides)
    return config


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
            keys = sorted({f.name for m in method_names for f in dataclasses.fields(configs[m])})
            close = difflib.get_close_matches(key, keys, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"--set {key}={value}: none of the selected methods ({', '.join(method_names)}) has a "
                              f"hyperparameter {key!r}{hint}; theirs: {', '.join(keys) or '(none)'}")
        for m in takers:
            routed[m][key] = value
    return routed
