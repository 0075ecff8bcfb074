"""The committed results: leaderboard.md is what `zsbench leaderboard` renders from the committed
results/, and the committed toy accuracies reproduce when re-evaluated from scratch."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import zsbench
from zsbench.harness.results.leaderboard import render_all, render_results
from zsbench.harness.core.registry import METHODS, SUITES
from zsbench.harness.evaluation.runner import RunSpec, Runner
from zsbench.harness.results.store import SCHEMA_VERSION
from zsbench.methods.base import Need

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"


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


def test_committed_plots_match_committed_results(committed):
    """results/plots/*.svg are byte for byte what the committed results render to, no more, no less."""
    results_dir, board = committed
    rendered = render_all(results_dir)
    assert rendered.plots, "the committed toy results make at least the toy plot"
    committed_plots = {p.name: p.read_bytes() for p in (results_dir / "plots").glob("*.svg")}
    assert committed_plots == {p.name: svg for p, svg in rendered.plots.items()}
    for name in committed_plots:
        assert f"(results/plots/{name})" in board


def test_committed_html_page_matches_committed_results(committed):
    """results/leaderboard.html is byte for byte what the committed results render to."""
    results_dir, _ = committed
    assert (results_dir / "leaderboard.html").read_bytes() == render_all(results_dir).html.encode("utf-8")


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
    """Re-evaluated from an empty cache, every cheap committed row gets the same accuracy and, being
    the same inputs, the same evaluation id. ZPE's reference pool is a download; offline it is read
    from the shared copy of the same templates (another file, so another config), checked by the
    pool's hash instead."""
    rows = _reproducible_rows(committed[0])
    pool_copy = REFERENCE / "zpe" / "zeroshot_templates.json"
    for (method, config_json), group in rows.groupby(["method", "config_json"]):
        config = json.loads(config_json)
        reference_pool = config.get("pool") == "reference" and not config.get("templates_file")
        if reference_pool:
            if not pool_copy.is_file():
                continue  # the pool is neither downloadable here nor in the shared folder
            config["templates_file"] = str(pool_copy)
        overrides = [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in config.items()]
        seeds = tuple(sorted(int(s) for s in group["seed"].unique()))
        Runner(RunSpec(methods=[method], datasets=sorted(group["dataset"].unique()), overrides=overrides,
                       seeds=seeds if seeds != (0,) else (1, 2, 3), latency_images=1,
                       results_dir=tmp_path / method, cache_dir=tmp_path / "cache")).run()
        fresh = zsbench.load_results(tmp_path / method).set_index(["dataset", "seed"])
        for _, row in group.iterrows():
            got = fresh.loc[(row["dataset"], row["seed"])]
            if reference_pool:
                assert got["out_zpe_pool_sha256"] == row["out_zpe_pool_sha256"], (method, row["dataset"])
            else:
                assert got["config_hash"] == row["config_hash"], (method, row["dataset"])
                assert got["eval_id"] == row["eval_id"], (method, row["dataset"])
            tolerance = 50.0 / row["n_images"]  # less than one image
            assert abs(got["acc1"] - row["acc1"]) < tolerance, (method, row["dataset"], row["seed"], got["acc1"], row["acc1"])


def test_every_committed_evaluation_has_its_predictions(committed):
    results_dir = committed[0]
    results = zsbench.load_results(results_dir)
    assert (results["schema_version"] == SCHEMA_VERSION).all() and results["eval_id"].notna().all()
    preds = zsbench.load_predictions(results_dir)
    assert set(preds["eval_id"]) == set(results["eval_id"])
    recomputed = preds.groupby("eval_id")["correct"].mean() * 100
    assert np.allclose(recomputed.sort_index(), results.set_index("eval_id")["acc1"].sort_index())
    low, high = results["acc1_ci95_low"], results["acc1_ci95_high"]
    assert ((low <= results["acc1"]) & (results["acc1"] <= high)).all()


def test_the_readme_pandas_example_runs_on_the_committed_results(committed, monkeypatch, capsys):
    readme = (REPO / "README.md").read_text()
    block = readme.split("### Working with results in pandas", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(committed[0].parent)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "clip-e" in out and "zpe" in out and "p_value" in out
