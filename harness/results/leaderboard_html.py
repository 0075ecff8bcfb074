"""The leaderboard as one self-contained static page (``results/leaderboard.html``): what
``leaderboard.md`` says, table for table, plus sorting, filtering and the confidence intervals.

The page is ``leaderboard.md``'s text converted by Python-Markdown, so its rows and numbers are the
markdown's by construction. Around it: the plots inline (SVG as data URIs, so their element ids
never clash), a JSON block of what the markdown does not show (each row's method family, each
cell's bootstrap 95 % interval), and a few lines of inline JavaScript that sort a table by a
clicked header, filter rows by model, shots and method family, and show the intervals. No network,
no external asset, no clock: re-rendering unchanged results gives the same bytes, so
``zsbench leaderboard --check`` covers the page too.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

import markdown
import pandas as pd

if TYPE_CHECKING:
    from zsbench.harness.results.leaderboard import Rendered

HTML_NAME = "leaderboard.html"  # default: in the results folder, beside plots/
FAMILIES = {"fewshot": "few-shot", "images": "zero-shot, per-image work", "features": "zero-shot"}


def default_html(results_dir: str | Path) -> Path:
    return Path(results_dir) / HTML_NAME


def method_family(method: str) -> str:
    """What kind of method a row is, from what it declares it needs (a plug-in that is not
    installed here: "other")."""
    from zsbench.harness.core.registry import METHODS, UnknownNameError
    from zsbench.methods.base import Need

    try:
        needs = METHODS.get(method).needs
    except UnknownNameError:
        return "other"
    if Need.FEWSHOT in needs:
        return FAMILIES["fewshot"]
    return FAMILIES["images"] if Need.IMAGES in needs else FAMILIES["features"]


def row_details(rendered: "Rendered") -> dict[str, dict]:
    """Per suite with results, in the main table's row order: the method's family, and per dataset
    the 95 % interval (per evaluation a bootstrap over test images; over seeds the mean of the
    bounds)."""
    results = rendered.results
    bounds = {}
    if {"eval_id", "acc1_ci95_low", "acc1_ci95_high"} <= set(results.columns):
        known = results.dropna(subset=["eval_id", "acc1_ci95_low", "acc1_ci95_high"])
        bounds = dict(zip(known["eval_id"], zip(known["acc1_ci95_low"], known["acc1_ci95_high"])))
    details = {}
    for view in rendered.views:
        if not view.measured:
            continue
        rows = []
        for m in view.measured:
            ci = {}
            for dataset, ids in m.eval_ids.items():
                if ids and all(i in bounds for i in ids):
                    low = sum(bounds[i][0] for i in ids) / len(ids)
                    high = sum(bounds[i][1] for i in ids) / len(ids)
                    ci[dataset] = f"{low:.2f}–{high:.2f}"
            rows.append({"method": m.method, "family": method_family(m.method), "ci": ci})
        details[view.suite.name] = {"datasets": list(view.suite.datasets), "rows": rows}
    return details


def _inline_plots(text: str, rendered: "Rendered") -> str:
    """The markdown's plot links replaced by the plots themselves (data URIs)."""
    for name, link in sorted(rendered.links.items(), key=lambda kv: -len(kv[1])):
        svg = rendered.plots[rendered.plots_dir / f"{name}.svg"]
        text = text.replace(f"]({link})", f"](data:image/svg+xml;base64,{base64.b64encode(svg).decode('ascii')})")
    return text


def render_html(rendered: "Rendered") -> str:
    """The page for ``rendered`` (``leaderboard.render_all``'s result)."""
    body = markdown.markdown(_inline_plots(rendered.text, rendered), extensions=["tables", "toc"], output_format="html")
    details = json.dumps(row_details(rendered), sort_keys=True, ensure_ascii=False).replace("</", "<\\/")
    return PAGE.format(title="zsbench leaderboard", style=STYLE, body=body, details=details, script=SCRIPT,
                       families=html.escape(", ".join(sorted(set(FAMILIES.values()) | {"other"}))))


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="zsbench leaderboard">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<form id="filters" aria-label="filter rows">
<strong>Filter rows:</strong>
<label>model <select id="filter-model"><option value="">all</option></select></label>
<label>shots <select id="filter-shots"><option value="">all</option></select></label>
<label>method family <select id="filter-family"><option value="">all</option></select></label>
<label><input type="checkbox" id="show-ci"> 95 % intervals</label>
<span id="shown"></span>
</form>
<p class="hint">Click a column header to sort by it (again: reverse). Method families: {families}.
A cell's 95 % interval is a bootstrap over its test images (over seeds: the mean of the bounds).</p>
<main>
{body}
</main>
<script type="application/json" id="row-details">{details}</script>
<script>{script}</script>
</body>
</html>
"""

STYLE = """
h2, h3 { scroll-margin-top: 3.5em; }
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 90em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.55em; white-space: nowrap; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: #fafafa; }
img { max-width: 100%; height: auto; }
#filters { position: sticky; top: 0; background: #fff; padding: 0.5em 0; border-bottom: 1px solid #ddd; }
#filters label { margin-left: 1em; }
.ci { display: none; color: #666; font-size: 0.85em; margin-left: 0.3em; }
body.show-ci .ci { display: inline; }
.hint { color: #555; font-size: 0.9em; }
tr.filtered-out { display: none; }
"""

SCRIPT = r"""
"use strict";
(function () {
  const details = JSON.parse(document.getElementById("row-details").textContent);
  const tables = Array.from(document.querySelectorAll("main table"));
  const headers = (t) => Array.from(t.tHead.rows[0].cells).map((c) => c.textContent.trim());
  const baseMethod = (text) => text.split(" (config ")[0].trim();
  const families = {};
  // each suite's main table: the first table of its section whose header has a "seeds" column
  for (const [suite, info] of Object.entries(details)) {
    const heading = document.getElementById(suite);
    let node = heading ? heading.nextElementSibling : null;
    while (node && node.tagName !== "H2" && !(node.tagName === "TABLE" && headers(node).includes("seeds"))) {
      node = node.nextElementSibling;
    }
    if (!node || node.tagName !== "TABLE" || node.tBodies[0].rows.length !== info.rows.length) continue;
    const cols = headers(node);
    Array.from(node.tBodies[0].rows).forEach((tr, i) => {
      const row = info.rows[i];
      families[row.method] = row.family;
      tr.dataset.family = row.family;
      for (const [dataset, ci] of Object.entries(row.ci)) {
        const cell = tr.cells[cols.indexOf(dataset)];
        if (!cell) continue;
        cell.title = "95 % interval " + ci;
        const span = document.createElement("span");
        span.className = "ci";
        span.textContent = "[" + ci + "]";
        cell.appendChild(span);
      }
    });
  }
  const value = (cell) => {
    const own = Array.from(cell.childNodes).filter((n) => !(n.classList && n.classList.contains("ci")));
    const text = own.map((n) => n.textContent).join("").trim();
    const number = parseFloat(text.replace(/^[^0-9+\-.]*/, "").replace("\u2212", "-"));
    return Number.isNaN(number) ? null : number;
  };
  for (const table of tables) {
    Array.from(table.tHead.rows[0].cells).forEach((th, col) => {
      th.addEventListener("click", () => {
        const descending = !th.classList.contains("sorted-desc");
        for (const other of table.tHead.rows[0].cells) other.classList.remove("sorted-asc", "sorted-desc");
        th.classList.add(descending ? "sorted-desc" : "sorted-asc");
        const rows = Array.from(table.tBodies[0].rows);
        const numeric = rows.some((r) => value(r.cells[col]) !== null);
        rows.sort((a, b) => {
          if (numeric) {
            const x = value(a.cells[col]), y = value(b.cells[col]);
            if (x === null || y === null) return (x === null) - (y === null);
            return descending ? y - x : x - y;
          }
          const c = a.cells[col].textContent.localeCompare(b.cells[col].textContent);
          return descending ? -c : c;
        });
        for (const r of rows) table.tBodies[0].appendChild(r);
      });
    });
  }
  const choices = { model: new Set(), shots: new Set(), family: new Set() };
  for (const table of tables) {
    const cols = headers(table);
    for (const tr of table.tBodies[0].rows) {
      if (cols.includes("model")) choices.model.add(tr.cells[cols.indexOf("model")].textContent.trim());
      if (cols.includes("shots")) choices.shots.add(tr.cells[cols.indexOf("shots")].textContent.trim());
      if (cols.includes("method")) {
        const family = tr.dataset.family || families[baseMethod(tr.cells[cols.indexOf("method")].textContent)];
        if (family) { tr.dataset.family = family; choices.family.add(family); }
      }
    }
  }
  for (const [name, values] of Object.entries(choices)) {
    const select = document.getElementById("filter-" + name);
    for (const v of Array.from(values).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))) {
      const option = document.createElement("option");
      option.value = v;
      option.textContent = v;
      select.appendChild(option);
    }
    select.addEventListener("change", apply);
  }
  function apply() {
    const want = {
      model: document.getElementById("filter-model").value,
      shots: document.getElementById("filter-shots").value,
      family: document.getElementById("filter-family").value,
    };
    let shown = 0, total = 0;
    for (const table of tables) {
      const cols = headers(table);
      for (const tr of table.tBodies[0].rows) {
        let keep = true;
        for (const name of ["model", "shots"]) {
          if (want[name] && cols.includes(name) && tr.cells[cols.indexOf(name)].textContent.trim() !== want[name]) keep = false;
        }
        if (want.family && cols.includes("method") && tr.dataset.family !== want.family) keep = false;
        tr.classList.toggle("filtered-out", !keep);
        total += 1;
        shown += keep ? 1 : 0;
      }
    }
    document.getElementById("shown").textContent = shown === total ? "" : shown + " of " + total + " rows shown";
  }
  document.getElementById("show-ci").addEventListener("change", (e) => {
    document.body.classList.toggle("show-ci", e.target.checked);
  });
})();
"""
