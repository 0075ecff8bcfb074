"""The leaderboard's plots (matplotlib, SVG): per suite accuracy against latency, and base against
new accuracy with harmonic-mean contours.

The SVG files are committed beside the results and ``zsbench leaderboard --check`` compares them
byte for byte, so a plot is a pure function of the results: the figure is built without pyplot's
global state, the SVG is written without a date (``metadata``), with a fixed hash salt for its
element ids, with text kept as text (``svg.fonttype: none``, so no glyph outlines from the local
FreeType) in a fixed font, and labels are placed by plain arithmetic on the data, never by
measuring rendered text.
"""
from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from zsbench.harness.results.leaderboard import SuiteView

RC = {
    "svg.hashsalt": "zsbench",  # element ids from a fixed salt instead of a random one
    "svg.fonttype": "none",  # text as <text>: no font outlines, no dependence on the local FreeType
    "font.family": "DejaVu Sans",  # ships with matplotlib
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
METADATA = {"Date": None, "Creator": "zsbench leaderboard (matplotlib)"}
SIZE = (8.0, 5.0)  # inches
LABEL_PT = 8  # label font size
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#a6a61c", "#17becf")
MARKERS = ("o", "s", "^", "D")  # a new marker each time the colours come round again


def _style(i: int) -> tuple[str, str]:
    return COLORS[i % len(COLORS)], MARKERS[(i // len(COLORS)) % len(MARKERS)]


def _svg(fig: "Figure") -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata=METADATA)
    return buffer.getvalue()


def _place_labels(ax, points: list[tuple[float, float, str, str]], log_x: bool) -> None:
    """Label each point (data x, data y, text, colour) beside it, in its colour. Labels whose boxes
    would overlap are stacked a line apart, the stack centred on their points' mean height, with a
    thin leader line from a moved label to its point. The axes limits must be set: everything is
    computed from them, never by measuring rendered text, so it cannot vary with a renderer."""
    fig = ax.figure
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    pos = ax.get_position()
    width_pt, height_pt = pos.width * fig.get_figwidth() * 72, pos.height * fig.get_figheight() * 72

    def fx(x: float) -> float:
        return (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0)) if log_x else (x - x0) / (x1 - x0)

    line = LABEL_PT * 1.35 / height_pt
    gap = 6 / width_pt
    labels = []  # (left, right, point x, point y, text, colour, on the right)
    for x, y, text, colour in sorted(points, key=lambda p: (p[1], p[0], p[2])):
        px, py = fx(x), (y - y0) / (y1 - y0)
        w = len(text) * LABEL_PT * 0.6 / width_pt
        right_side = px + gap + w <= 0.98
        left, right = (px + gap, px + gap + w) if right_side else (px - gap - w, px - gap)
        labels.append((left, right, px, py, text, colour, right_side))
    # columns: labels whose horizontal extents overlap (transitively) may collide
    columns: list[list[int]] = []
    for i in sorted(range(len(labels)), key=lambda i: (labels[i][0], i)):
        if columns and labels[i][0] < max(labels[j][1] for j in columns[-1]):
            columns[-1].append(i)
        else:
            columns.append([i])
    ly = {}
    for column in columns:
        blocks: list[list[int]] = []  # runs of labels stacked a line apart, centred on their points
        for i in sorted(column, key=lambda i: (labels[i][3], i)):
            blocks.append([i])
            while len(blocks) > 1:
                low, high = blocks[-2], blocks[-1]
                def bottom(block):
                    return sum(labels[j][3] for j in block) / len(block) - (len(block) - 1) * line / 2
                if bottom(low) + len(low) * line <= bottom(high):
                    break
                blocks[-2:] = [low + high]
        for block in blocks:
            start = sum(labels[j][3] for j in block) / len(block) - (len(block) - 1) * line / 2
            for k, j in enumerate(block):
                ly[j] = start + k * line
    for i, (left, right, px, py, text, colour, right_side) in enumerate(labels):
        anchor = left if right_side else right
        ax.text(anchor, ly[i], text, transform=ax.transAxes, fontsize=LABEL_PT, color=colour,
                ha="left" if right_side else "right", va="center")
        if abs(ly[i] - py) > line * 0.3:
            ax.plot([px, anchor], [py, ly[i]], transform=ax.transAxes, color=colour, lw=0.5, alpha=0.6, zorder=1)


def _padded(low: float, high: float, fraction: float, log: bool = False) -> tuple[float, float]:
    if log:
        a, b = math.log10(low), math.log10(high)
        pad = max((b - a) * fraction, 0.15)
        return 10 ** (a - pad), 10 ** (b + pad)
    pad = max((high - low) * fraction, 0.5)
    return low - pad, high + pad


def _device_where(key) -> str:
    """The device and measure of a latency column, short enough for an axis label."""
    measure, device, name, precision, batch = key
    how = "p50 at batch 1" if measure == "p50" else "batched run"
    return ", ".join(part for part in (device, name, precision, how) if part)


def accuracy_latency_figure(view: "SuiteView") -> "Figure | None":
    """x: ms per image (the suite's latency column that times the most rows, the first of equals;
    log scale), y: the suite average; one
    labelled point per table row (method and model), error bars over seeds: the lowest and highest
    seed's latency, the sample standard deviation of the seeds' suite averages. None without a row
    that has both."""
    from matplotlib.figure import Figure

    from zsbench.harness.results.leaderboard import latency_summary, score, score_over_seeds, suite_averages

    if not view.columns:
        return None
    key = max(view.columns, key=lambda k: (sum(bool(m.latency.get(k)) for m in view.measured), -view.columns[k]))
    many_models = len({(m.model, m.pretrained) for m in view.measured}) > 1
    rows = []
    for m in view.measured:
        s, lat = score(m, view.suite), latency_summary(m.latency.get(key, []))
        if s is None or lat is None:
            continue
        seeds = score_over_seeds(m, view.suite)
        sd = (sum((v - sum(seeds) / len(seeds)) ** 2 for v in seeds) / (len(seeds) - 1)) ** 0.5 if len(seeds) > 1 else 0.0
        rows.append((m, s, sd, lat, f"{m.label} / {m.model}" if many_models else m.label))
    if not rows:
        return None
    fig = Figure(figsize=SIZE)
    ax = fig.add_axes((0.09, 0.13, 0.86, 0.78))
    ax.set_xscale("log")
    for i, (m, s, sd, (median, low, high), label) in enumerate(rows):
        colour, marker = _style(i)
        ax.errorbar([median], [s], xerr=[[median - low], [high - median]], yerr=[[sd], [sd]], fmt=marker,
                    color=colour, ms=5, capsize=2, lw=1, zorder=3)
    xs = [r[3][1] for r in rows] + [r[3][2] for r in rows]
    ys = [r[1] - r[2] for r in rows] + [r[1] + r[2] for r in rows]
    ax.set_xlim(*_padded(min(xs), max(xs), 0.25, log=True))
    ax.set_ylim(*_padded(min(ys), max(ys), 0.12))
    name, datasets = suite_averages(view.suite)[0]
    ax.set_title(f"{view.suite.name}: {name} against latency ({len(rows)} rows)")
    ax.set_xlabel(f"ms per image (log scale), latency column [{view.columns[key]}]: {_device_where(key)}")
    ax.set_ylabel(f"{name}: mean top-1 % over {', '.join(datasets)}" if len(datasets) <= 4 else f"{name}: top-1 %")
    fig.text(0.01, 0.01, "points: median latency over seeds, mean accuracy; error bars: lowest to highest seed "
             "(latency), ± one standard deviation over seeds (accuracy)", fontsize=7, color="0.35")
    _place_labels(ax, [(r[3][0], r[1], r[4], _style(i)[0]) for i, r in enumerate(rows)], log_x=True)
    return fig


def base_to_new_figure(view: "SuiteView") -> "Figure | None":
    """x: base accuracy, y: new accuracy, one labelled point per base-to-new row with both halves,
    over contours of constant harmonic mean. None without such a row."""
    from matplotlib.figure import Figure

    rows = [r for r in view.base_to_new if r.hm is not None]
    if not rows:
        return None
    many_datasets = len({r.dataset for r in rows}) > 1
    many_models = len({(r.model, r.pretrained) for r in rows}) > 1
    fig = Figure(figsize=(6.5, 5.5))
    ax = fig.add_axes((0.11, 0.11, 0.84, 0.8))
    values = [r.base for r in rows] + [r.new for r in rows]
    low, high = _padded(min(values), max(values), 0.3)
    low, high = max(low, 0.0), min(high, 100.0)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    step = 5 if high - low > 12 else 1
    for level in range(int(math.ceil(low / step)) * step, int(high) + 1, step):
        # HM = 2bn / (b + n) = level  <=>  n = level * b / (2b - level), for b > level / 2
        bs = [low + (high - low) * i / 200 for i in range(201)]
        pts = [(b, level * b / (2 * b - level)) for b in bs if 2 * b - level > 1e-9]
        pts = [(b, n) for b, n in pts if low <= n <= high]
        if len(pts) < 2:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color="0.75", lw=0.7, zorder=1)
        if low <= level <= high:
            ax.text(level, level, f"HM {level}", fontsize=7, color="0.45", ha="left", va="bottom", zorder=2)
    for i, r in enumerate(rows):
        colour, marker = _style(i)
        ax.plot([r.base], [r.new], marker, color=colour, ms=5, zorder=3)
    ax.set_aspect("equal")
    ax.set_title(f"{view.suite.name}: base-to-new (new against base accuracy)")
    ax.set_xlabel("base classes: top-1 % (mean over seeds)")
    ax.set_ylabel("new classes: top-1 % (mean over seeds)")

    def label(r) -> str:
        return r.label + (f" / {r.model}" if many_models else "") + (f" ({r.dataset})" if many_datasets else "")

    _place_labels(ax, [(r.base, r.new, f"{label(r)}: HM {r.hm:.2f}", _style(i)[0]) for i, r in enumerate(rows)],
                  log_x=False)
    return fig


def render_plots(views: list["SuiteView"]) -> dict[str, bytes]:
    """Plot name (``<suite>``, ``<suite>-base-to-new``) -> SVG bytes, for every suite that has
    something to plot."""
    import matplotlib

    plots: dict[str, bytes] = {}
    with matplotlib.rc_context(RC):
        for view in views:
            for name, make in ((view.suite.name, accuracy_latency_figure), (f"{view.suite.name}-base-to-new", base_to_new_figure)):
                fig = make(view)
                if fig is not None:
                    plots[name] = _svg(fig)
    return plots


def render_png(view: "SuiteView", path, dpi: int = 110) -> None:
    """The accuracy-vs-latency plot as a PNG (to look at; the leaderboard links the SVG)."""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = accuracy_latency_figure(view)
        if fig is not None:
            fig.savefig(path, format="png", dpi=dpi)
