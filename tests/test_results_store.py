"""The Parquet results store: schema, atomic writes, resuming by content identity, dedup, schema
versions and unreadable files."""
from __future__ import annotations

import os
import warnings

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zsbench.harness.results import store as results_store
from zsbench.harness.results.store import (
    COLUMNS,
    KEY_COLUMNS,
    ResultsFileSkipped,
    SCHEMA_VERSION,
    RunWriter,
    completed_evaluations,
    current_evaluations,
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
        "eval_id": "e-dtd-0",
        "inputs_hash": "i-dtd",
        "weights_id": "ViT-B-16:openai",
        "task_hash": "t-dtd",
        "classes": "all",
        "acc1_ci95_low": 42.25,
        "acc1_ci95_high": 46.75,
        "mean_per_class_recall_ci95_low": 41.5,
        "mean_per_class_recall_ci95_high": 46.5,
        "n_train": None,
        "latency_ms_p50": 2.5,
        "latency_ms_p95": 3.0,
        "latency_calls": 64,
        "latency_batch": 128,
        "latency_scope": "encoder+head",
        "decode_ms_per_image": 4.0,
        "gpu_mem_peak_mb": 1536.0,
        "cpu_model": "AMD EPYC 9654",
        "cpu_threads": 16,
        "cuda_version": "12.8",
        "cudnn_version": "91002",
        "gpu_driver": "570.133.20",
        "workers": 8,
        "batch_size_source": "auto",
        "host": "node-07", "slurm_job_id": "4242", "slurm_array_task_id": "3", "shard": "4/8",
    }
    row.update(overrides)
    if "eval_id" not in overrides:  # one evaluation per (dataset, seed, limit) unless a test says otherwise
        row["eval_id"] = f"e-{row['dataset']}-{row['seed']}-{row['limit']}"
    return row


def test_columns_start_with_the_key_and_name_every_field():
    assert COLUMNS[: len(KEY_COLUMNS)] == KEY_COLUMNS
    assert len(set(COLUMNS)) == len(COLUMNS)
    assert set(make_row()) | {"timestamp", "run_id", "schema_version"} == set(COLUMNS)


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
    assert schema.field("acc1").type == pa.float64()
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")

    df = load_results(tmp_path)
    assert list(df.columns) == COLUMNS + ["extra_metric"]
    assert df["dataset"].tolist() == ["dtd", "eurosat"]
    assert df["acc1"].tolist() == [44.5, 37.125]
    assert df["n_classes"].tolist() == [47, 10]
    assert df["seed"].dtype == pd.Int64Dtype()
    assert pd.isna(df.loc[0, "limit"]) and df.loc[1, "limit"] == 200
    assert df["run_id"].tolist() == [writer.run_id] * 2
    assert df.loc[0, "extra_metric"] == 0.5 and pd.isna(df.loc[1, "extra_metric"])
    assert str(df["timestamp"].dtype) == "datetime64[us, UTC]" and df["timestamp"].notna().all()
    assert df["schema_version"].tolist() == [SCHEMA_VERSION] * 2


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


def test_completed_evaluations_are_the_stored_eval_ids(tmp_path):
    writer = RunWriter(tmp_path)
    writer.append(make_row())
    writer.append(make_row(dataset="eurosat", seed=2, shots=16, method="coop"))
    assert completed_evaluations(tmp_path) == {"e-dtd-0-None", "e-eurosat-2-None"}
    assert completed_evaluations(tmp_path / "missing") == set()


def test_a_limited_run_neither_replaces_nor_completes_the_full_evaluation(tmp_path):
    full, smoke = RunWriter(tmp_path), RunWriter(tmp_path)
    full.append(make_row(acc1=70.0))
    smoke.append(make_row(acc1=10.0, limit=20))
    df = load_results(tmp_path)
    assert sorted(df["acc1"]) == [10.0, 70.0]
    assert completed_evaluations(tmp_path) == {"e-dtd-0-None", "e-dtd-0-20"}


def test_a_changed_input_is_a_new_evaluation_and_a_rerun_supersedes(tmp_path):
    first, second, rerun = RunWriter(tmp_path), RunWriter(tmp_path), RunWriter(tmp_path)
    first.append(make_row(acc1=70.0, eval_id="old", inputs_hash="i-old", timestamp="2026-11-20T10:00:00+00:00"))
    second.append(make_row(acc1=60.0, eval_id="new", inputs_hash="i-new", timestamp="2026-11-21T10:00:00+00:00"))
    rerun.append(make_row(acc1=61.0, eval_id="new", inputs_hash="i-new", timestamp="2026-11-22T10:00:00+00:00"))
    df = load_results(tmp_path)  # same key columns, two evaluations: both kept, the re-run supersedes
    assert sorted(zip(df["eval_id"], df["acc1"])) == [("new", 61.0), ("old", 70.0)]
    assert current_evaluations(df)["acc1"].tolist() == [61.0]  # a table shows the latest inputs only


def test_current_evaluations_never_mix_weights_or_inputs_in_one_row(tmp_path):
    w = RunWriter(tmp_path)
    t = "2026-11-2{}T10:00:00+00:00"
    w.append(make_row(seed=1, acc1=50.0, weights_id="w1", inputs_hash="a", timestamp=t.format(0)))
    w.append(make_row(seed=2, acc1=52.0, weights_id="w1", inputs_hash="a", timestamp=t.format(1)))
    w.append(make_row(dataset="eurosat", seed=1, acc1=30.0, weights_id="w1", inputs_hash="b", timestamp=t.format(2)))
    # the checkpoint is replaced; only dtd seed 1 is re-evaluated
    w.append(make_row(seed=1, acc1=55.0, weights_id="w2", inputs_hash="c", eval_id="x", timestamp=t.format(3)))
    current = current_evaluations(load_results(tmp_path))
    assert current[["dataset", "seed", "acc1"]].values.tolist() == [["dtd", 1, 55.0]]


def test_schema_1_files_still_load_and_newer_ones_are_skipped_with_the_fix(tmp_path):
    legacy = {k: make_row()[k] for k in KEY_COLUMNS} | {"acc1": 40.0, "limit": None,
                                                        "timestamp": "2026-11-21T10:00:00.000000+00:00",
                                                        "config_json": '{"subsample": "base"}'}
    pq.write_table(pa.Table.from_pylist([legacy]), tmp_path / "run-old.parquet")
    newer = make_row(schema_version=SCHEMA_VERSION + 1)
    RunWriter(tmp_path).append(newer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results(tmp_path)
        done = completed_evaluations(tmp_path)
    assert len(df) == 1 and df.loc[0, "schema_version"] == 1 and pd.isna(df.loc[0, "eval_id"])
    assert df.loc[0, "classes"] == "base"  # from the config of a schema-1 row
    assert str(df.loc[0, "timestamp"]) == "2026-11-21 10:00:00+00:00"
    message = " ".join(str(w.message) for w in caught)
    assert f"results schema {SCHEMA_VERSION + 1}" in message and "upgrade zsbench" in message
    assert done == set()  # a schema-1 row never stands in for a current evaluation


def test_latest_only_keeps_the_latest_row_per_key(tmp_path):
    # The newer row lives in the file whose name sorts first: order must come from the timestamp.
    newer, older = RunWriter(tmp_path), RunWriter(tmp_path)
    newer.append(make_row(acc1=50.0, timestamp="2026-11-22T10:00:00.000000+00:00"))
    older.append(make_row(acc1=40.0, timestamp="2026-11-21T10:00:00.000000+00:00"))
    older.append(make_row(dataset="eurosat", acc1=30.0, timestamp="2026-11-21T10:00:01.000000+00:00"))
    # (same eval_id for the two dtd rows: a --force re-run of one evaluation)
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
