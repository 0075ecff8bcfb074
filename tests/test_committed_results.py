"""The committed results: leaderboard.md is what `zsbench leaderboard` renders from the committed
results/, and the committed toy accuracies reproduce when re-evaluated from scratch."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import zsbench
from zsbench.harness.leaderboard import render_results
from zsbench.harness.registry import METHODS, SUITES
from zsbench.harness.runner import RunSpec, Runner
from zsbench.methods.base import Need

REPO = Path(__file__).resolve().parents[1]


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> tuple[Path, str]:
    """(results dir, leaderboard text) as committed at HEAD; the working tree outside a checkout."""
    listing = _git("ls-tree", "-r", "--name-only", "HEAD", "results")
    if listing.returncode != 0:
        return REPO / "results", (REPO / "leaderboard.md").read_text()
    out = tmp_path_factory.mktemp("committed") / "results"
    for name in listing.stdout.decode().split():
        target = out / Path(name).relative_to("results")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git("show", f"HEAD:{name}").stdout)
    return out, _git("show", "HEAD:leaderboard.md").stdout.decode()


def test_committed_leaderboard_matches_committed_results(committed):
    results_dir, board = committed
    assert render_results(results_dir) == board


def _reproducible_rows(results_dir: Path):
    df = zsbench.load_results(results_dir)
    toy = set(SUITES.get("toy").datasets)
    cheap = {m for m in METHODS.names() if METHODS.get(m).needs <= {Need.IMAGE_FEATURES, Need.DESCRIPTIONS}}
    return df[df["dataset"].isin(toy) & df["method"].isin(cheap) & df["limit"].isna()]


def test_committed_toy_results_exist(committed):
    rows = _reproducible_rows(committed[0])
    assert {"clip", "clip-e"} <= set(rows["method"])
    assert set(rows["dataset"]) == set(SUITES.get("toy").datasets)


def test_committed_toy_accuracies_reproduce(committed, tmp_path):
    rows = _reproducible_rows(committed[0])
    for (method, config_json), group in rows.groupby(["method", "config_json"]):
        config = json.loads(config_json)
        overrides = [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in config.items()]
        seeds = tuple(sorted(int(s) for s in group["seed"].unique()))
        Runner(RunSpec(methods=[method], datasets=sorted(group["dataset"].unique()), overrides=overrides,
                       seeds=seeds if seeds != (0,) else (1, 2, 3), latency_images=1,
                       results_dir=tmp_path / method, cache_dir=tmp_path / "cache")).run()
        fresh = zsbench.load_results(tmp_path / method).set_index(["dataset", "seed"])
        for _, row in group.iterrows():
            got = fresh.loc[(row["dataset"], row["seed"])]
            assert got["config_hash"] == row["config_hash"], (method, row["dataset"])
            tolerance = 50.0 / row["n_images"]  # less than one image
            assert abs(got["acc1"] - row["acc1"]) < tolerance, (method, row["dataset"], row["seed"], got["acc1"], row["acc1"])
