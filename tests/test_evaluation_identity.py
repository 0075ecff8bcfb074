"""Results keyed by content: a changed input (weights at the same path, a retrained toy-clip, an
edited description or template file, changed class names or templates) is a new evaluation; the
same inputs are the same evaluation, whatever they are called."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import zsbench
from zsbench.datasets.toy import model as toy
from zsbench.harness.results.store import SCHEMA_VERSION
from zsbench.harness.core.hashing import file_sha256
from zsbench.harness.core.registry import DATASETS
from zsbench.harness.evaluation.runner import Runner, RunSpec

TOY_CLASSES = ["circle", "square", "triangle", "five-pointed star", "cross", "ring", "crescent", "heart", "arrow",
               "diamond", "semicircle", "bowtie"]


def run(tmp_path: Path, methods=("clip",), datasets=("toy",), **kw):
    spec = RunSpec(methods=list(methods), datasets=list(datasets), limit=kw.pop("limit", 30), latency_images=0,
                   results_dir=tmp_path / "results", cache_dir=tmp_path / "cache", **kw)
    return Runner(spec).run()


def perturbed_copy(source: Path, target: Path, scale: float = 0.05) -> Path:
    weights = load_file(str(source))
    name = "visual.proj" if "visual.proj" in weights else sorted(weights)[0]
    weights[name] = weights[name] + scale * torch.randn(weights[name].shape, generator=torch.Generator().manual_seed(0)).to(weights[name].dtype)
    save_file(weights, str(target))
    return target


def test_replacing_a_checkpoint_at_the_same_path_is_a_new_evaluation(tmp_path):
    ckpt = tmp_path / "weights.safetensors"
    shutil.copy(toy.WEIGHTS_PATH, ckpt)
    first = run(tmp_path, model="toy-clip", pretrained=str(ckpt))
    again = run(tmp_path, model="toy-clip", pretrained=str(ckpt))
    assert [e.skipped for e in first] == [False] and [e.skipped for e in again] == [True]
    assert first[0].row["weights_id"] == "sha256:" + file_sha256(ckpt)
    perturbed_copy(toy.WEIGHTS_PATH, ckpt)  # same path, new bytes
    replaced = run(tmp_path, model="toy-clip", pretrained=str(ckpt))
    assert [e.skipped for e in replaced] == [False]
    assert replaced[0].row["eval_id"] != first[0].row["eval_id"]
    assert replaced[0].row["weights_id"] == "sha256:" + file_sha256(ckpt) != first[0].row["weights_id"]
    assert len(zsbench.load_results(tmp_path / "results")) == 2


def test_a_retrained_toy_clip_under_the_same_name_is_a_new_evaluation(tmp_path, monkeypatch):
    committed = run(tmp_path)
    assert committed[0].row["pretrained"] == "committed"
    monkeypatch.setattr(toy, "WEIGHTS_PATH", perturbed_copy(toy.WEIGHTS_PATH, tmp_path / "retrained.safetensors"))
    retrained = run(tmp_path)
    assert [e.skipped for e in retrained] == [False] and retrained[0].row["pretrained"] == "committed"
    assert retrained[0].row["weights_id"] != committed[0].row["weights_id"]


def test_an_edited_description_file_is_a_new_evaluation(tmp_path):
    path = tmp_path / "descriptions.json"
    path.write_text(json.dumps({c: [f"a photo of a {c}."] for c in TOY_CLASSES}))
    first = run(tmp_path, methods=["cupl"], overrides=[f"descriptions={path}"])
    assert [e.skipped for e in run(tmp_path, methods=["cupl"], overrides=[f"descriptions={path}"])] == [True]
    path.write_text(json.dumps({c: [f"a drawing of a {c} shape."] for c in TOY_CLASSES}))
    edited = run(tmp_path, methods=["cupl"], overrides=[f"descriptions={path}"])
    assert [e.skipped for e in edited] == [False]
    assert edited[0].row["config_hash"] == first[0].row["config_hash"]  # same settings...
    assert edited[0].row["eval_id"] != first[0].row["eval_id"]  # ...different input


def test_an_edited_template_file_is_a_new_evaluation(tmp_path):
    path = tmp_path / "templates.txt"
    path.write_text("a photo of a {}.\na drawing of a {}.\n")
    first = run(tmp_path, methods=["zpe-equal"], overrides=[f"templates_file={path}"])
    path.write_text("a photo of a {}.\na sketch of the {}.\n")
    edited = run(tmp_path, methods=["zpe-equal"], overrides=[f"templates_file={path}"])
    assert [e.skipped for e in edited] == [False] and edited[0].row["eval_id"] != first[0].row["eval_id"]


def test_changed_class_names_or_templates_are_a_new_task(tmp_path):
    base = DATASETS.get("toy")

    def variant(templates):
        def build(data_root=None):
            dataset = base(data_root)
            dataset.templates = templates
            return dataset
        return build

    DATASETS.register("toy-variant", variant(["a photo of a {}."]))
    try:
        first = run(tmp_path, datasets=["toy-variant"])
        DATASETS._items["toy-variant"] = variant(["a rendering of a {}."])
        changed = run(tmp_path, datasets=["toy-variant"])
    finally:
        DATASETS._items.pop("toy-variant")
    assert [e.skipped for e in changed] == [False]
    assert changed[0].row["task_hash"] != first[0].row["task_hash"]


def test_the_same_command_twice_is_the_same_evaluation_with_the_same_numbers(tmp_path):
    a = run(tmp_path / "a", methods=["clip", "waffle"], seeds=(1, 2))
    b = run(tmp_path / "b", methods=["clip", "waffle"], seeds=(1, 2))
    keys = ("eval_id", "inputs_hash", "task_hash", "weights_id", "acc1", "acc1_ci95_low", "acc1_ci95_high",
            "mean_per_class_recall_ci95_low")
    assert [{k: e.row[k] for k in keys} for e in a] == [{k: e.row[k] for k in keys} for e in b]
    waffle = [e.row for e in a if e.row["method"] == "waffle"]
    assert len({r["inputs_hash"] for r in waffle}) == 1 and len({r["eval_id"] for r in waffle}) == 2  # seeds share inputs
    assert all(r["schema_version"] == SCHEMA_VERSION and r["classes"] == "all" for r in (e.row for e in a))


def test_a_fully_stored_run_never_loads_the_model(tmp_path, monkeypatch):
    run(tmp_path)
    from zsbench.harness.evaluation import runner as runner_module

    monkeypatch.setattr(runner_module, "load_model", lambda *a, **k: pytest.fail("model loaded for a stored run"))
    assert [e.skipped for e in run(tmp_path)] == [True]
