"""Every registered dataset and suite, tested from the registries: a new dataset (one record, or a
registered factory) is covered without writing a test.

A catalogued dataset's record must be complete (folder and layout, how to get it, a zero-shot
template and an ensemble with one ``{}`` each, known trait values, a few-shot source that exists,
description files only for known sources and at the pinned public commits, a pinned or marked Hub
mirror); a dataset without a record (the toy world, a plug-in) must build, offline, into a
complete :class:`Dataset`. The light indexes the CLI answers from must name exactly what the
modules register.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from zsbench.datasets import records
from zsbench.datasets.base import Dataset
from zsbench.datasets.builtin import TOY_DATASETS, dataset_names
from zsbench.datasets.description_files import ABS_RAW, CUPL_RAW, NAMED_SOURCES
from zsbench.datasets.local_layouts import Layout
from zsbench.datasets.records import RECORDS
from zsbench.datasets.toy.domains import DOMAINS
from zsbench.datasets.traits import FAMILIES, FEWSHOT_RECIPES
from zsbench.harness.core.registry import DATASETS, MODEL_LOADERS, SUITES

NAMES = DATASETS.names()
README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def one_placeholder(template: str) -> bool:
    return template.count("{}") == 1 and not re.search(r"\{[^}]", template)


def assert_complete(record) -> None:
    """Everything a record must declare, with values of the right form."""
    assert record.folder and isinstance(record.layout, Layout) and len(record.get) > 20
    assert one_placeholder(record.template)
    ensemble = record.ensemble_templates()
    assert ensemble and all(one_placeholder(t) for t in ensemble) and len(set(ensemble)) == len(ensemble)
    assert all(one_placeholder(t) for t in record.fewshot_templates or ())
    assert record.family in (None, *FAMILIES) and record.fewshot_recipe in FEWSHOT_RECIPES
    if record.fewshot_from is not None:
        source = RECORDS[record.fewshot_from]
        assert source.fewshot_from is None and source.family == record.family
    assert set(record.description_files) <= set(NAMED_SOURCES)
    for remote in record.description_files.values():
        assert remote.url.startswith((CUPL_RAW + "/", ABS_RAW + "/")) and remote.url.endswith(".json")
        assert remote.cache_name.endswith(remote.url.rsplit("/", 1)[1])
        assert all(ours and theirs for ours, theirs in remote.aliases)
    if record.hub is not None:
        hub = record.hub
        assert hub.repo_id.count("/") == 1 and hub.split and hub.image_column and hub.label_column
        assert hub.revision is None or re.fullmatch(r"[0-9a-f]{40}", hub.revision)


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_every_record_is_complete_and_catalogued(name):
    record = RECORDS[name]
    assert_complete(record)
    assert record.name == name and name in NAMES and name in SUITES.get("all").datasets


def test_the_readme_record_is_complete():
    """The README's worked example of adding a dataset (one record) is a complete record."""
    block = re.search(r"<!-- readme-example: dataset -->\n```python\n(.*?)```", README, re.S)
    assert block, "README.md lost its dataset example"
    record = eval(block.group(1), {name: getattr(records, name) for name in ("DatasetRecord", "ZhouSplit", "HubEntry")})
    assert isinstance(record, records.DatasetRecord) and record.name not in RECORDS
    assert_complete(record)


@pytest.mark.parametrize("name", [n for n in NAMES if n not in RECORDS])
def test_every_dataset_without_a_record_builds_complete(name):
    dataset = DATASETS.get(name)(None)
    assert isinstance(dataset, Dataset) and dataset.name == name
    assert dataset.classnames and len(set(dataset.classnames)) == len(dataset.classnames)
    assert dataset.templates and all(one_placeholder(t) for t in [*dataset.templates, *dataset.ensemble_templates])
    assert dataset.test_split in dataset.splits
    assert dataset.family in (None, *FAMILIES) and dataset.fewshot_recipe in FEWSHOT_RECIPES
    assert dataset.fewshot_from is None or dataset.fewshot_from in NAMES
    assert set(dataset.description_sources) <= set(NAMED_SOURCES)
    assert dataset.default_model is None or dataset.default_model in MODEL_LOADERS.names()


def test_the_dataset_index_names_exactly_what_the_modules_register():
    DATASETS._load()  # import every module the index names
    assert set(dataset_names()) == set(DATASETS._items)
    assert TOY_DATASETS == tuple(d.name for d in DOMAINS)


@pytest.mark.parametrize("suite", SUITES.names())
def test_every_suite_names_registered_datasets_and_averages_over_its_own(suite):
    declared = SUITES.get(suite)
    assert declared.name == suite and declared.datasets and declared.description
    assert set(declared.datasets) <= set(NAMES)
    for column, members in declared.averages:
        assert column and set(members) <= set(declared.datasets)
