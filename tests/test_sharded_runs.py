"""Sharded and concurrent runs (issue 13): ``--shard I/N`` over all I does exactly the serial run's
work, two workers sharing a results folder and a cache never compute a unit twice, a dead
worker's claim is taken over, and several models run in one command."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import threading
import time

import pytest

import zsbench
from zsbench.datasets.toy import model as toy
from zsbench.harness.core.claims import ClaimBoard
from zsbench.harness.core.errors import RunError
from zsbench.harness.evaluation.runner import Runner, RunSpec
from zsbench.harness.scaleout.units import ENCODE, EVALUATE, Shard, unit_id

METHODS = ["clip", "clip-e", "waffle"]


LIMIT = 40


def spec(tmp_path, results="results", cache="cache", **kw) -> RunSpec:
    kw.setdefault("methods", METHODS)
    kw.setdefault("suite", "toy")
    return RunSpec(limit=kw.pop("limit", LIMIT), latency_images=0, seeds=kw.pop("seeds", (1, 2)),
                   results_dir=tmp_path / results, cache_dir=tmp_path / cache, **kw)


def accuracies(results_dir) -> dict[str, float]:
    df = zsbench.load_results(results_dir)
    assert not df["eval_id"].duplicated().any()
    return dict(zip(df["eval_id"], df["acc1"]))


SUITE_IMAGES = 6 * LIMIT  # the toy suite's six test splits, each limited to 40 of its 250-600 images


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The serial run every sharded variant must reproduce."""
    tmp = tmp_path_factory.mktemp("serial")
    evaluations = Runner(spec(tmp)).run()
    return {"acc": accuracies(tmp / "results"), "n": len(evaluations)}


def test_shards_together_are_exactly_the_serial_run(tmp_path, serial, counted_models):
    first = Runner(spec(tmp_path, shard="1/2")).run()
    second = Runner(spec(tmp_path, shard="2/2")).run()
    assert first and second, "each shard of the toy suite holds some evaluations"
    ids = [e.row["eval_id"] for e in first + second]
    assert len(ids) == len(set(ids)) == serial["n"]
    assert accuracies(tmp_path / "results") == serial["acc"]
    assert sum(m.calls for m in counted_models) == SUITE_IMAGES  # every test split encoded once
    rows = zsbench.load_results(tmp_path / "results")
    assert set(rows["shard"]) == {"1/2", "2/2"}
    assert rows["host"].eq(socket.gethostname()).all()
    # resubmitting both shards does nothing and never loads a model
    loads = len(counted_models)
    again = Runner(spec(tmp_path, shard="1/2")).run() + Runner(spec(tmp_path, shard="2/2")).run()
    assert all(e.skipped for e in again) and len(again) == serial["n"] and len(counted_models) == loads


def test_shard_assignment_is_stable_and_covers_every_unit_once():
    keys = [f"eval-{i}" for i in range(200)]
    for n in (1, 2, 3, 7):
        owners = [[i for i in range(1, n + 1) if Shard(i, n).holds(EVALUATE, k)] for k in keys]
        assert all(len(o) == 1 for o in owners)
    # the id is sha256 of kind and key, the same in every process (never Python's salted hash)

    assert unit_id(ENCODE, "k") == hashlib.sha256(b"encode:k").hexdigest()[:20]
    assert Shard(2, 2).holds(ENCODE, "k") == (int(hashlib.sha256(b"encode:k").hexdigest()[:20], 16) % 2 == 1)


def test_an_encode_phase_then_an_evaluate_phase_is_the_serial_run(tmp_path, serial, counted_models):
    encoded = Runner(spec(tmp_path, phase="encode", shard="1/2")).run() + \
        Runner(spec(tmp_path, phase="encode", shard="2/2")).run()
    assert encoded == [] and not zsbench.load_results(tmp_path / "results").shape[0]
    assert sum(m.calls for m in counted_models) == SUITE_IMAGES
    before = sum(m.calls for m in counted_models)
    Runner(spec(tmp_path, phase="evaluate", shard="1/2")).run()
    Runner(spec(tmp_path, phase="evaluate", shard="2/2")).run()
    assert sum(m.calls for m in counted_models) == before  # the evaluate phase only reads the cache
    assert accuracies(tmp_path / "results") == serial["acc"]


def test_two_concurrent_workers_with_overlapping_shards_compute_each_unit_once(tmp_path, serial, counted_models):
    errors = []

    def work(shard):
        try:
            Runner(spec(tmp_path, shard=shard)).run()
        except BaseException as err:  # surfaced below
            errors.append(err)

    workers = [threading.Thread(target=work, args=(s,)) for s in (None, "1/1")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=600)
    assert not errors
    assert sum(m.calls for m in counted_models) == SUITE_IMAGES
    df = zsbench.load_results(tmp_path / "results", latest_only=False)
    assert len(df) == serial["n"] and not df["eval_id"].duplicated().any()
    assert accuracies(tmp_path / "results") == serial["acc"]
    assert not list((tmp_path / "results" / ".claims").glob("*.claim"))
    assert not list((tmp_path / "cache" / "claims").glob("*.claim"))


def write_claim(board: ClaimBoard, kind: str, key: str, host: str, pid: int, age_s: float = 0.0):
    path = board.path(kind, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "token": "theirs", "kind": kind, "key": key}))
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


def dead_pid() -> int:
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_claim_of_a_dead_process_or_with_an_old_heartbeat_is_taken_over(tmp_path):
    board = ClaimBoard(tmp_path / "claims", stale_after=60)
    here = socket.gethostname()
    write_claim(board, EVALUATE, "dead", here, dead_pid())
    write_claim(board, EVALUATE, "old", "node-17", 12345, age_s=120)
    live = write_claim(board, EVALUATE, "live", "node-17", 12345, age_s=5)
    mine = write_claim(board, EVALUATE, "mine", here, os.getpid())
    for key in ("dead", "old"):
        claim = board.try_claim(EVALUATE, key)
        assert claim is not None
        assert json.loads(board.path(EVALUATE, key).read_text())["pid"] == os.getpid()
        claim.release()
        assert not board.path(EVALUATE, key).exists()
    assert board.try_claim(EVALUATE, "live") is None and board.try_claim(EVALUATE, "mine") is None
    assert json.loads(live.read_text())["token"] == "theirs" == json.loads(mine.read_text())["token"]
    assert board.holder(EVALUATE, "live")["host"] == "node-17"
    assert not list((tmp_path / "claims").glob(".*taken*"))


def test_a_claim_is_kept_fresh_while_held_and_a_taken_over_claim_is_not_removed_by_its_old_owner(tmp_path):
    board = ClaimBoard(tmp_path / "claims", stale_after=60, heartbeat=0.05)
    claim = board.try_claim(ENCODE, "k")
    then = time.time() - 1000
    os.utime(claim.path, (then, then))
    time.sleep(0.3)
    assert time.time() - claim.path.stat().st_mtime < 5  # the heartbeat refreshed it
    claim.path.write_text(json.dumps({"host": "node-2", "pid": 1, "token": "new-owner"}))
    claim.release()  # presumed dead, then taken over: the new owner's claim stays
    assert claim.path.exists()


def test_a_unit_a_live_worker_holds_is_left_to_it(tmp_path, counted_models):
    planned = Runner(spec(tmp_path, methods=["clip"], datasets=["toy", "toy-v2"], suite=None))
    everything = planned.run()
    assert len(everything) == 2
    held = everything[0].row["eval_id"]
    shutil.rmtree(tmp_path / "results")
    write_claim(ClaimBoard(tmp_path / "results" / ".claims"), EVALUATE, held, "node-9", 4242)
    done = Runner(spec(tmp_path, methods=["clip"], datasets=["toy", "toy-v2"], suite=None)).run()
    assert [e.row["eval_id"] for e in done] == [everything[1].row["eval_id"]]
    assert set(zsbench.load_results(tmp_path / "results")["eval_id"]) == {everything[1].row["eval_id"]}


def test_several_models_in_one_command_are_keyed_apart(tmp_path, counted_models):
    copy = tmp_path / "copy.safetensors"
    shutil.copy(toy.WEIGHTS_PATH, copy)
    both = Runner(spec(tmp_path, methods=["clip"], datasets=["toy"], suite=None, model="toy-clip,toy-clip",
                       pretrained=f"committed,{copy}")).run()
    assert [e.row["pretrained"] for e in both] == ["committed", str(copy)]
    assert both[0].row["eval_id"] != both[1].row["eval_id"]
    assert both[0].row["acc1"] == both[1].row["acc1"]  # the same weights under two identities
    assert len(counted_models) == 2
    alone = Runner(spec(tmp_path, results="alone", methods=["clip"], datasets=["toy"], suite=None)).run()
    assert alone[0].row["eval_id"] == both[0].row["eval_id"]  # keyed as a one-model run keys it


@pytest.mark.parametrize("kw, message", [
    ({"shard": "3/2"}, "--shard 3/2"),
    ({"shard": "half"}, "expected I/N"),
    ({"shard": "0/4"}, "between 1 and N"),
    ({"phase": "train"}, "--phase train"),
    ({"model": "toy-clip,toy-clip", "pretrained": "a,b,c"}, "3 weights for 2 models"),
    ({"model": "toy-clip,toy-clip"}, "named twice"),
])
def test_bad_scale_out_flags_fail_before_any_model_work(tmp_path, counted_models, kw, message):
    with pytest.raises(RunError, match=message):
        Runner(spec(tmp_path, **kw)).run()
    assert counted_models == []
