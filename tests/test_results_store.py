"""The Parquet results store: schema, atomic writes, resuming, dedup and unreadable files."""
from __future__ import annotations

import os
import warnings

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zsbench.harness import results_store
from zsbench.harness.results_store import (
    COLUMNS,
    KEY_COLUMNS,
    ResultsFileSkipped,
    RunWriter,
    completed_keys,
    load_results,
    new_run_id,
)


def make_row(**overrides) -> dict:
    row = {
        "method": "clip",
        "model": "ViT-B-16",
        "pretrained": "openai",
        "dataset": "dtd",
        "split": "test",
        "seed": 0,
        "shots": 0,
        "config_hash": "0123456789ab",
        "suite": "few-shot",
        "acc1": 44.5,
        "acc5": 73.25,
        "mean_per_class_recall": 44.0,
        "n_images": 1880,
        "n_classes": 47,
        "config_json": "{}",
        "seconds_total": 12.5,
        "setup_seconds": 1.5,
        "images_per_s": 150.4,
        "latency_ms_per_image": 6.65,
        "device": "cpu",
        "device_name": "AMD EPYC 7B13",
        "precision": "fp32",
        "batch_size": 256,
        "data_source": "local:/data/dtd",
        "zsbench_version": "0.1.0",
        "git_sha": "deadbeef",
        "torch_version": "2.14.1",
        "open_clip_version": "3.3.0",
        "limit": None,
    }
    row.update(overrides)
    return row


def test_columns_start_with_the_key_and_name_every_field():
    assert COLUMNS[: len(KEY_COLUMNS)] == KEY_COLUMNS
    assert len(set(COLUMNS)) == len(COLUMNS)
    assert set(make_row()) | {"timestamp", "run_id"} == set(COLUMNS)


def test_new_run_id_format():
    run_id = new_run_id()
    stamp, suffix = run_id.split("-")
    assert len(stamp) == 16 and stamp[8] == "T" and stamp.endswith("Z")
    assert len(suffix) == 6 and int(suffix, 16) >= 0
    assert new_run_id() != new_run_id()


def test_round_trip_keeps_values_types_and_extra_columns(tmp_path):
    writer = RunWriter(tmp_path)
    writer.append(make_row(extra_metric=0.5))
    writer.append(make_row(dataset="eurosat", acc1=37.125, n_classes=10, limit=200, extra_metric=None))

    assert writer.path == tmp_path / f"run-{writer.run_id}.parquet"
    assert sorted(os.listdir(tmp_path)) == [writer.path.name]
    schema = pq.read_schema(writer.path)
    assert schema.names == COLUMNS + ["extra_metric"]
    assert schema.field("seed").type == pa.int64() and schema.field("limit").type == pa.int64()
    assert schema.field("acc1").type == pa.float64() and schema.field("timestamp").type == pa.string()

    df = load_results(tmp_path)
    assert list(df.columns) == COLUMNS + ["extra_metric"]
    assert df["dataset"].tolist() == ["dtd", "eurosat"]
    assert df["acc1"].tolist() == [44.5, 37.125]
    assert df["n_classes"].tolist() == [47, 10]
    assert df["seed"].dtype == pd.Int64Dtype()
    assert pd.isna(df.loc[0, "limit"]) and df.loc[1, "limit"] == 200
    assert df["run_id"].tolist() == [writer.run_id] * 2
    assert df.loc[0, "extra_metric"] == 0.5 and pd.isna(df.loc[1, "extra_metric"])
    assert pd.to_datetime(df["timestamp"], utc=True, format="ISO8601").notna().all()


def test_every_run_file_has_the_same_schema(tmp_path):
    sparse, full = RunWriter(tmp_path), RunWriter(tmp_path)
    sparse.append({k: make_row()[k] for k in KEY_COLUMNS})  # every optional column null
    full.append(make_row(dataset="eurosat", limit=50))
    assert pq.read_schema(sparse.path).equals(pq.read_schema(full.path))
    assert load_results(tmp_path)["suite"].tolist() == ["", "few-shot"]


def test_missing_key_columns_raise_and_name_them(tmp_path):
    writer = RunWriter(tmp_path)
    row = make_row(seed=None)
    del row["config_hash"]
    with pytest.raises(ValueError, match=r"missing key column\(s\) seed, config_hash"):
        writer.append(row)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("column", "value"), [("acc1", "high"), ("seed", 1.5), ("batch_size", "256")])
def test_values_of_the_wrong_type_raise_and_name_the_column(tmp_path, column, value):
    with pytest.raises(ValueError, match=f"results column '{column}'"):
        RunWriter(tmp_path).append(make_row(**{column: value}))


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_interrupted_write_leaves_no_partial_or_temp_file(tmp_path, monkeypatch, error):
    writer = RunWriter(tmp_path)
    writer.append(make_row())
    before = writer.path.read_bytes()
    real_write_table = pq.write_table

    def write_half_then_fail(table, where, **kwargs):
        where.write(b"PAR1" + b"\0" * 64)  # the start of a file, as a crash mid-write leaves it
        raise error

    monkeypatch.setattr(results_store.pq, "write_table", write_half_then_fail)
    with pytest.raises(type(error)):
        writer.append(make_row(dataset="eurosat"))
    with pytest.raises(type(error)):
        RunWriter(tmp_path).append(make_row(dataset="food101"))
    monkeypatch.setattr(results_store.pq, "write_table", real_write_table)

    assert os.listdir(tmp_path) == [writer.path.name]  # no temp file, no file for the second run
    assert writer.path.read_bytes() == before
    assert load_results(tmp_path)["dataset"].tolist() == ["dtd"]
    writer.append(make_row(dataset="eurosat"))  # the failed row is not kept half-way
    assert load_results(tmp_path)["dataset"].tolist() == ["dtd", "eurosat"]


def test_completed_keys_are_plain_tuples_for_resuming(tmp_path):
    writer = RunWriter(tmp_path)
    writer.append(make_row())
    writer.append(make_row(dataset="eurosat", seed=2, shots=16, method="coop"))
    assert completed_keys(tmp_path) == {
        ("clip", "ViT-B-16", "openai", "dtd", "test", 0, 0, "0123456789ab", None),
        ("coop", "ViT-B-16", "openai", "eurosat", "test", 2, 16, "0123456789ab", None),
    }
    assert all(type(v) in (str, int) for key in completed_keys(tmp_path) for v in key[:-1])


def test_a_limited_run_neither_replaces_nor_completes_the_full_evaluation(tmp_path):
    full, smoke = RunWriter(tmp_path), RunWriter(tmp_path)
    full.append(make_row(acc1=70.0))
    smoke.append(make_row(acc1=10.0, limit=20))
    df = load_results(tmp_path)
    assert sorted(df["acc1"]) == [10.0, 70.0]
    key = ("clip", "ViT-B-16", "openai", "dtd", "test", 0, 0, "0123456789ab")
    assert completed_keys(tmp_path) == {key + (None,), key + (20,)}
    assert completed_keys(tmp_path / "missing") == set()


def test_latest_only_keeps_the_latest_row_per_key(tmp_path):
    # The newer row lives in the file whose name sorts first: order must come from the timestamp.
    newer, older = RunWriter(tmp_path), RunWriter(tmp_path)
    newer.append(make_row(acc1=50.0, timestamp="2026-11-22T10:00:00.000000+00:00"))
    older.append(make_row(acc1=40.0, timestamp="2026-11-21T10:00:00.000000+00:00"))
    older.append(make_row(dataset="eurosat", acc1=30.0, timestamp="2026-11-21T10:00:01.000000+00:00"))
    newer.path.rename(tmp_path / "run-a.parquet")
    older.path.rename(tmp_path / "run-b.parquet")

    latest = load_results(tmp_path)
    assert latest[["dataset", "acc1"]].values.tolist() == [["dtd", 50.0], ["eurosat", 30.0]]
    everything = load_results(tmp_path, latest_only=False)
    assert everything[["dataset", "acc1"]].values.tolist() == [["dtd", 40.0], ["dtd", 50.0], ["eurosat", 30.0]]


def test_unreadable_and_foreign_files_are_skipped_with_a_warning(tmp_path):
    writer = RunWriter(tmp_path)
    writer.append(make_row())
    corrupt = tmp_path / "x.parquet"
    corrupt.write_bytes(os.urandom(512))
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"model": ["a"], "score": [1.0]}), foreign)
    # Neither hidden temp files nor subfolders are read at all.
    (tmp_path / ".tmp-half.parquet").write_bytes(b"PAR1")
    (tmp_path / "reference").mkdir()
    pq.write_table(pa.table({"x": [1]}), tmp_path / "reference" / "other.parquet")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results(tmp_path)

    messages = sorted(str(w.message) for w in caught if issubclass(w.category, ResultsFileSkipped))
    assert len(messages) == 2 and len(caught) == 2
    assert messages[0].startswith(f"skipped results file {foreign}: it has no key column(s) method, pretrained")
    assert "not a zsbench results file" in messages[0]
    assert messages[1].startswith(f"skipped results file {corrupt}: it cannot be read as Parquet")
    assert df["dataset"].tolist() == ["dtd"] and df["acc1"].tolist() == [44.5]


def test_missing_or_empty_results_dir_gives_an_empty_frame_with_the_columns(tmp_path):
    for where in (tmp_path, tmp_path / "missing"):
        df = load_results(where)
        assert df.empty and list(df.columns) == COLUMNS
