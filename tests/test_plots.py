"""The leaderboard's plots: what the SVG shows, where it is linked from, and that it is the same
bytes whenever the results are the same (in another process too), so --check covers it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from zsbench.datasets.suite import Suite
from zsbench.harness.core import registry
from zsbench.harness.results.leaderboard import check_leaderboard, suite_views, write_leaderboard
from zsbench.harness.results.plots import render_plots
from zsbench.harness.results.store import COLUMNS, RunWriter, load_results

FEW = Suite(name="few", datasets=("dtd", "eurosat"), averages=(("avg", ("dtd", "eurosat")),))
OTHER = Suite(name="other", datasets=("food101",))


def row(method, dataset, acc1, latency, seed=0, model="ViT-B-16", classes="all", shots=0, config="c0ffee000000"):
    r = dict.fromkeys(COLUMNS)
    r.update(method=method, model=model, pretrained="openai", dataset=dataset, split="test", seed=seed, shots=shots,
             config_hash=config, acc1=acc1, latency_ms_p50=latency, latency_ms_per_image=latency, device="cpu",
             device_name="Test CPU", precision="fp32", batch_size=8, classes=classes,
             config_json=json.dumps({"subsample": classes}) if classes != "all" else "{}")
    return {k: v for k, v in r.items() if v is not None}


def write_results(results_dir: Path) -> None:
    writer = RunWriter(results_dir)
    for seed, (a, b, lat) in enumerate(((60.0, 70.0, 110.0), (62.0, 71.0, 523.0), (61.0, 69.0, 180.0)), start=1):
        writer.append(row("abs", "dtd", a, lat, seed=seed))
        writer.append(row("abs", "eurosat", b, lat, seed=seed))
    writer.append(row("clip", "dtd", 55.0, 20.0))
    writer.append(row("clip", "eurosat", 65.0, 20.0))
    writer.append(row("clip-e", "dtd", 56.0, 21.0))
    writer.append(row("clip-e", "eurosat", 65.0, 21.0))
    for seed in (1, 2):
        writer.append(row("coop", "dtd", 70.0 + seed, None, seed=seed, classes="base", shots=16, config=f"b{seed}"))
        writer.append(row("coop", "dtd", 60.0 + seed, None, seed=seed, classes="new", shots=16, config=f"n{seed}"))


@pytest.fixture
def registered(monkeypatch):
    class Suites:
        @staticmethod
        def items():
            return iter([("few", FEW), ("other", OTHER)])

    monkeypatch.setattr(registry, "SUITES", Suites)


def test_one_plot_per_suite_with_results_linked_from_the_leaderboard(tmp_path, registered):
    results_dir = tmp_path / "results"
    write_results(results_dir)
    text = write_leaderboard(results_dir, tmp_path / "leaderboard.md")
    plots = sorted(p.name for p in (results_dir / "plots").iterdir())
    assert plots == ["few-base-to-new.svg", "few.svg"]  # nothing for "other": it has no results
    assert "![few: accuracy vs latency](results/plots/few.svg)" in text
    assert "![base vs new accuracy with harmonic-mean contours](results/plots/few-base-to-new.svg)" in text

    svg = (results_dir / "plots" / "few.svg").read_text()
    assert svg.startswith("<?xml") and "<svg" in svg
    for label in (">abs<", ">clip<", ">clip-e<"):  # labelled points (text stays text: svg.fonttype none)
        assert label in svg, label
    assert "few: avg against latency (3 rows)" in svg and "ms per image (log scale)" in svg
    assert "dc:date" not in svg and "zsbench leaderboard (matplotlib)" in svg
    b2n = (results_dir / "plots" / "few-base-to-new.svg").read_text()
    # base mean 71.5, new mean 61.5: HM = 2 * 71.5 * 61.5 / 133 = 66.12
    assert "coop: HM 66.12" in b2n and "HM 65" in b2n


def test_a_non_default_results_dir_links_its_own_plots(tmp_path, registered):
    results_dir = tmp_path / "smoke"
    write_results(results_dir)
    text = write_leaderboard(results_dir, results_dir / "leaderboard.md")
    assert "![few: accuracy vs latency](plots/few.svg)" in text and "from `./`" in text
    text = write_leaderboard(results_dir, tmp_path / "board.md")
    assert "![few: accuracy vs latency](smoke/plots/few.svg)" in text and "from `smoke/`" in text


def test_plot_points_are_the_median_latency_and_the_suite_average():
    results_dir_rows = pd.DataFrame([row("abs", "dtd", 60.0, 110.0, seed=1), row("abs", "eurosat", 70.0, 110.0, seed=1),
                                     row("abs", "dtd", 62.0, 523.0, seed=2), row("abs", "eurosat", 72.0, 523.0, seed=2),
                                     row("abs", "dtd", 61.0, 180.0, seed=3), row("abs", "eurosat", 71.0, 180.0, seed=3),
                                     row("clip", "dtd", 50.0, 20.0), row("clip", "eurosat", 60.0, 20.0)])
    from zsbench.harness.results.plots import RC, accuracy_latency_figure
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = accuracy_latency_figure(suite_views(results_dir_rows, [FEW])[0])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    points = sorted((float(line.get_xdata()[0]), float(line.get_ydata()[0])) for line in ax.lines
                    if line.get_marker() not in ("None", "", None, "_", "|") and len(line.get_xdata()) == 1)
    assert points == [(20.0, 55.0), (180.0, 66.0)]  # abs: median over seeds 110, 523, 180; avg of the means 61, 71
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("abs") == 1 and texts.count("clip") == 1


def test_plots_are_byte_identical_when_rerendered_and_in_another_process(tmp_path, registered):
    results_dir = tmp_path / "results"
    write_results(results_dir)
    first = render_plots(suite_views(load_results(results_dir), [FEW, OTHER]))
    assert render_plots(suite_views(load_results(results_dir), [FEW, OTHER])) == first
    script = (
        "import sys; from pathlib import Path\n"
        "from zsbench.datasets.suite import Suite\n"
        "from zsbench.harness.results.leaderboard import suite_views\n"
        "from zsbench.harness.results.plots import render_plots\n"
        "from zsbench.harness.results.store import load_results\n"
        "few = Suite(name='few', datasets=('dtd', 'eurosat'), averages=(('avg', ('dtd', 'eurosat')),))\n"
        "for name, svg in render_plots(suite_views(load_results(sys.argv[1]), [few])).items():\n"
        "    Path(sys.argv[2], name + '.svg').write_bytes(svg)\n"
    )
    out = tmp_path / "other-process"
    out.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": "12345", "MPLCONFIGDIR": str(tmp_path / "mpl")}
    done = subprocess.run([sys.executable, "-c", script, str(results_dir), str(out)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert {p.stem: p.read_bytes() for p in out.iterdir()} == first


def test_check_covers_the_plots(tmp_path, registered):
    results_dir, board = tmp_path / "results", tmp_path / "leaderboard.md"
    write_results(results_dir)
    write_leaderboard(results_dir, board)
    assert check_leaderboard(results_dir, board) == (True, "")
    plot = results_dir / "plots" / "few.svg"
    plot.write_bytes(plot.read_bytes().replace(b">abs<", b">abz<"))
    ok, report = check_leaderboard(results_dir, board)
    assert not ok and f"plot {plot} is stale: differs" in report
    plot.unlink()
    ok, report = check_leaderboard(results_dir, board)
    assert not ok and f"plot {plot} is stale: missing" in report
    write_leaderboard(results_dir, board)
    orphan = results_dir / "plots" / "gone.svg"
    orphan.write_text("<svg/>")
    ok, report = check_leaderboard(results_dir, board)
    assert not ok and f"plot {orphan} is stale: not made by the results" in report
    write_leaderboard(results_dir, board)
    assert not orphan.exists() and check_leaderboard(results_dir, board) == (True, "")


def test_the_plot_uses_the_latency_column_that_times_the_most_rows(tmp_path, registered):
    results_dir = tmp_path / "results"
    writer = RunWriter(results_dir)
    odd = dict(row("tpt", "dtd", 50.0, 300.0), device_name="A CPU (1 threads)")  # sorts first, one row only
    writer.append(odd)
    writer.append(dict(row("tpt", "eurosat", 60.0, 300.0), device_name="A CPU (1 threads)"))
    for method, latency in (("clip", 2.0), ("clip-e", 2.1)):
        for dataset in ("dtd", "eurosat"):
            writer.append(row(method, dataset, 55.0, latency))
    view = suite_views(load_results(results_dir), [FEW])[0]
    assert list(view.columns.values()) == [1, 2]
    svg = render_plots([view])["few"].decode()
    assert "few: avg against latency (2 rows)" in svg and "latency column [2]: cpu, Test CPU" in svg
