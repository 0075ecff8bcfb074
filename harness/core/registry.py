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
    """Plug-ins of one kind by name. ``builtin_modules`` are imported on first use (their import
    registers built-ins); ``index`` (``"module:function"``) names built-ins without importing them,
    ``{name: module that registers it}``, so that listing names, checking one or failing on a typo
    imports only the light modules, and ``get`` imports just the plug-in asked for."""

    def __init__(self, kind: str, entry_point_group: str, builtin_modules: str | tuple[str, ...] = (),
                 index: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.builtin_modules = (builtin_modules,) if isinstance(builtin_modules, str) else tuple(builtin_modules)
        self.index = index
        self._items: dict[str, T] = {}
        self._light_loaded = False
        self._loaded = False
        self._entry_points: dict | None = None

    def register(self, name: str, obj: T | None = None):
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""

        def add(item: T) -> T:
            existing = self._items.get(name)
            if existing is not None and existing is not item:
                raise ValueError(f"{self.kind} {name!r} is already registered ({existing!r})")
            self._items[name] = item
            return item

        return add if obj is None else add(obj)

    # ---------------------------------------------------------------------------- discovery

    def _builtin_index(self) -> dict[str, str]:
        if self.index is None:
            return {}
        module, _, function = self.index.partition(":")
        return dict(getattr(importlib.import_module(module), function)())

    def _plugins(self) -> dict:
        """The installed entry points of this kind, by name (read from package metadata, not loaded)."""
        if self._entry_points is None:
            self._entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group=self.entry_point_group)}
        return self._entry_points

    def _load_entry_point(self, ep) -> None:
        loaded = ep.load()
        if ep.name not in self._items and not isinstance(loaded, type(importlib)):
            self.register(ep.name, loaded)

    def _load_light(self) -> None:
        """The built-in modules and the entry points that name a module (whose names are not known
        until it is imported); not the plug-ins the index names."""
        if self._light_loaded:
            return
        self._light_loaded = True
        for module in self.builtin_modules:
            importlib.import_module(module)
        for ep in self._plugins().values():
            if ":" not in ep.value:
                self._load_entry_point(ep)

    def _load(self) -> None:
        """Everything: also every module of the index and every entry point."""
        if self._loaded:
            return
        self._load_light()
        self._loaded = True
        for module in dict.fromkeys(self._builtin_index().values()):
            importlib.import_module(module)
        for ep in self._plugins().values():
            self._load_entry_point(ep)

    def reload_entry_points(self) -> None:
        """Look for newly installed plug-ins (used after installing a package at run time)."""
        self._loaded = self._light_loaded = False
        self._entry_points = None
        self._load()

    # ---------------------------------------------------------------------------- lookup

    def get(self, name: str) -> T:
        """The plug-in ``name``, importing only what registers it; :class:`UnknownNameError` (with
        the closest valid name) when there is none."""
        self._load_light()
        if name not in self._items:
            module = self._builtin_index().get(name)
            if module is not None:
                importlib.import_module(module)
            elif name in self._plugins():
                self._load_entry_point(self._plugins()[name])
        try:
            return self._items[name]
        except KeyError:
            self.check(name)
            raise LookupError(f"{self.kind} {name!r} is indexed but its module did not register it") from None

    def check(self, name: str) -> None:
        """Raise :class:`UnknownNameError` unless ``name`` is registered (imports no plug-in)."""
        names = self.names()
        if name in names:
            return
        close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UnknownNameError(f"unknown {self.kind} {name!r}{hint}; valid {self.kind}s: {', '.join(names)}")

    def names(self) -> list[str]:
        """Every registered name, without importing the plug-ins themselves."""
        self._load_light()
        objects = {name for name, ep in self._plugins().items() if ":" in ep.value}  # registered under the entry point's name
        return sorted(set(self._items) | set(self._builtin_index()) | objects)

    def items(self) -> Iterator[tuple[str, T]]:
        self._load()
        return iter(sorted(self._items.items()))

    def __contains__(self, name: str) -> bool:
        return name in self.names()


METHODS: Registry = Registry("method", "zsbench.methods", index="zsbench.methods:builtin_methods")
DATASETS: Registry = Registry("dataset", "zsbench.datasets", index="zsbench.datasets.builtin:dataset_names")
SUITES: Registry = Registry("suite", "zsbench.suites", "zsbench.datasets.suites")
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
