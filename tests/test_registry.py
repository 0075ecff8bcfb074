"""Registries: decorator registration, clear unknown-name errors, and outside plug-ins through
entry points (a fake installed distribution on sys.path)."""
from __future__ import annotations

import sys
import textwrap

import pytest

from zsbench.harness.core.registry import DATASETS, METHODS, SUITES, Registry, UnknownNameError


def test_builtin_names_are_registered():
    assert {"clip", "clip-e"} <= set(METHODS.names())
    assert {"toy", "toy-v2", "toy-sketch", "toy-r", "toy-a", "toy-fine", "imagenet"} <= set(DATASETS.names())
    assert "toy" in SUITES.names() and "ood" in SUITES.names()


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownNameError) as err:
        METHODS.get("nope")
    assert "unknown method 'nope'" in str(err.value)
    assert str(err.value).endswith("valid methods: " + ", ".join(METHODS.names()))
    assert "clip, clip-d, clip-e" in str(err.value)


def test_duplicate_registration_is_refused():
    reg = Registry("thing", "zsbench.test-things", "zsbench.harness")
    reg.register("a")(int)
    reg.register("a")(int)  # the same object again is fine (re-import)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(str)


def test_entry_point_plugin_adds_a_method(tmp_path, monkeypatch):
    (tmp_path / "zsb_plugin_demo.py").write_text(textwrap.dedent('''
        from zsbench.methods.zero_shot import ZeroShotCLIP

        class Doubled(ZeroShotCLIP):
            name = "doubled"
            def logits_from_features(self, features):
                return 2 * super().logits_from_features(features)
    '''))
    dist = tmp_path / "zsb_plugin_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zsb-plugin-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[zsbench.methods]\ndoubled = zsb_plugin_demo:Doubled\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        METHODS.reload_entry_points()
        cls = METHODS.get("doubled")
        assert cls.__name__ == "Doubled" and cls.__module__ == "zsb_plugin_demo"
    finally:
        METHODS._items.pop("doubled", None)
        sys.modules.pop("zsb_plugin_demo", None)
