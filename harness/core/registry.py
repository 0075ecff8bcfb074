"""Name -> plug-in registries for methods, datasets and suites.

Built-in plug-ins register themselves with a decorator when their module is imported (each
registry names the modules that hold its built-ins, imported on first use); outside packages add
more through the entry-point groups ``zsbench.methods``, ``zsbench.datasets``, ``zsbench.suites``,
``zsbench.models`` and ``zsbench.benchmarks`` (an entry point may name a module, which registers on
import, or an object, which is registered under the entry point's name).
"""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata
from typing import Callable, Generic, Iterator, TypeVar

from zsbench.harness.core.errors import UserError

T = TypeVar("T")


class UnknownNameError(UserError, KeyError):
    """A name that is not registered; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str, builtin_modules: str | tuple[str, ...]):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.builtin_modules = (builtin_modules,) if isinstance(builtin_modules, str) else tuple(builtin_modules)
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str, obj: T | None = None):
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""

        def add(item: T) -> T:
            existing = self._items.get(name)
            if existing is not None and existing is not item:
                raise ValueError(f"{self.kind} {name!r} is already registered ({existing!r})")
            self._items[name] = item
            return item

        return add if obj is None else add(obj)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtin_modules:
            importlib.import_module(module)
        for ep in importlib.metadata.entry_points(group=self.entry_point_group):
            loaded = ep.load()
            if ep.name not in self._items and not isinstance(loaded, type(importlib)):
                self.register(ep.name, loaded)

    def reload_entry_points(self) -> None:
        """Look for newly installed plug-ins (used after installing a package at run time)."""
        self._loaded = False
        self._load()

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(self.names())
            close = difflib.get_close_matches(str(name), self.names(), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}{hint}; valid {self.kind}s: {valid}") from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self._load()
        return iter(sorted(self._items.items()))

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._items


METHODS: Registry = Registry("method", "zsbench.methods", "zsbench.methods")
DATASETS: Registry = Registry("dataset", "zsbench.datasets", ("zsbench.datasets.catalog", "zsbench.datasets.toy"))
SUITES: Registry = Registry("suite", "zsbench.suites", ("zsbench.datasets.suites", "zsbench.datasets.toy"))
#: Models that are not open_clip names (``toy-clip``): name -> a ``zsbench.harness.models.loading.ModelLoader``.
MODEL_LOADERS: Registry = Registry("model", "zsbench.models", "zsbench.datasets.toy.model")
#: ``zsbench bench --method M``: method name -> a function returning an object with ``summary()``.
BENCHMARKS: Registry = Registry("benchmark", "zsbench.benchmarks", "zsbench.methods.abs.bench")


def register_method(name: str) -> Callable[[T], T]:
    return METHODS.register(name)


def register_dataset(name: str) -> Callable[[T], T]:
    return DATASETS.register(name)


def register_suite(name: str) -> Callable[[T], T]:
    return SUITES.register(name)


def register_model_loader(name: str) -> Callable[[T], T]:
    return MODEL_LOADERS.register(name)


def register_benchmark(name: str) -> Callable[[T], T]:
    return BENCHMARKS.register(name)
