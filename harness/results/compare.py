"""``zsbench compare``: the paired difference of two methods on the same test images.

Accuracies of two methods on one test set are not independent samples: they are scored on the
same images, so the right comparison is paired (``harness.significance``). For each pair of runs
(by seed when both methods are seeded; a deterministic method, seed 0, against each seed of the
other) the table gives both accuracies, their difference with its paired bootstrap interval, the
discordant images and McNemar's exact p-value; the ``mean`` row compares the per-image correctness
averaged over each method's seeds (sign-flip test, which is McNemar's when each has one run).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from zsbench.harness.core.errors import UserError
from zsbench.harness.results.predictions import mean_correctness, read_correctness
from zsbench.harness.results.store import current_evaluations, load_results
from zsbench.harness.metrics.significance import paired_difference

COLUMNS = ["method_a", "method_b", "seed_a", "seed_b", "acc1_a", "acc1_b", "diff", "ci95_low", "ci95_high",
           "only_a", "only_b", "n_images", "p_value", "test"]


class CompareError(UserError):
    """A comparison that cannot be made as asked; the message names the flag and the fix."""


def _select(df: pd.DataFrame, spec: str, dataset: str) -> pd.DataFrame:
    """The current evaluations of ``spec`` ("method" or "method@<config hash prefix>")."""
    method, _, config = spec.partition("@")
    rows = df[(df["method"] == method) & df["config_hash"].astype(str).str.startswith(config)]
    if rows.empty:
        hashes = ", ".join(sorted(df.loc[df["method"] == method, "config_hash"].astype(str).unique()))
        raise CompareError(f"--method {spec}: no configuration of {method!r} on {dataset!r} has a hash starting {config!r} "
                           f"(its hashes: {hashes})")
    for column, flag in (("model", "--model"), ("pretrained", "--pretrained"), ("shots", "--shots"), ("classes", "--classes"),
                         ("config_hash", f"--method {method}@<hash>")):
        values = sorted(rows[column].astype(str).unique())
        if len(values) > 1:
            raise CompareError(f"--method {spec}: evaluated on {dataset!r} with several {column} values ({', '.join(values)}); "
                               f"choose one with {flag}")
    return rows


def _scores(results_dir: Path, rows: pd.DataFrame, spec: str) -> dict[int, pd.Series]:
    """seed -> per-image correctness (0/1, indexed by image id) of each evaluation."""
    out = {}
    for _, row in rows.iterrows():
        correct = read_correctness(results_dir, row["eval_id"]) if isinstance(row["eval_id"], str) else None
        if correct is None:
            raise CompareError(f"--method {spec}: evaluation {row['eval_id']} (seed {row['seed']}) has no per-image predictions "
                               f"in {results_dir / 'predictions'}; re-run it with --force to write them")
        out[int(row["seed"])] = correct
    return out


def _pairs(seeds_a: list[int], seeds_b: list[int]) -> list[tuple[int, int]]:
    if seeds_a == [0]:
        return [(0, s) for s in seeds_b]
    if seeds_b == [0]:
        return [(s, 0) for s in seeds_a]
    return [(s, s) for s in seeds_a if s in seeds_b]


def compare(method_a: str, method_b: str, dataset: str, results_dir: str | Path = "results", model: str | None = None,
            pretrained: str | None = None, shots: int | None = None, classes: str = "all",
            limit: int | None = None) -> pd.DataFrame:
    """The paired comparison of ``method_a`` and ``method_b`` on ``dataset`` (see the module
    docstring), one row per seed pair plus the ``mean`` row, as a DataFrame (``COLUMNS``)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise CompareError(f"--results-dir {results_dir}: no such folder")
    everything = load_results(results_dir)
    everything = everything[(everything["dataset"] == dataset) & (everything["classes"] == classes)]
    df = everything[everything["limit"].isna()] if limit is None else everything[everything["limit"] == limit]
    for column, value in (("model", model), ("pretrained", pretrained), ("shots", shots)):
        if value is not None:
            df = df[df[column] == value]
    df = current_evaluations(df)
    for spec in (method_a, method_b):
        name = spec.partition("@")[0]
        if not (df["method"] == name).any():
            limits = sorted({int(v) for v in everything.loc[everything["method"] == name, "limit"].dropna()})
            hint = f"; it has --limit evaluations: pass --limit {limits[0]}" if limits and limit is None else ""
            known = ", ".join(sorted(df["method"].unique())) or "none"
            raise CompareError(f"--method {spec}: no {'full ' if limit is None else ''}evaluation of it on {dataset!r} "
                               f"with --limit {limit}{hint} (methods there: {known})".replace(" with --limit None", ""))
    rows_a, rows_b = _select(df, method_a, dataset), _select(df, method_b, dataset)
    scores_a, scores_b = _scores(results_dir, rows_a, method_a), _scores(results_dir, rows_b, method_b)
    images = next(iter(scores_a.values())).index
    for spec, scores in ((method_a, scores_a), (method_b, scores_b)):
        for seed, s in scores.items():
            if len(s) != len(images) or not s.index.isin(images).all():
                raise CompareError(f"{method_a} and {spec} (seed {seed}) were not scored on the same {len(images)} images of "
                                   f"{dataset!r}; compare evaluations of the same split and --limit")
    out = []

    def row(seed_a, seed_b, a: pd.Series, b: pd.Series, test: str) -> dict:
        b = b.reindex(a.index)
        stats = paired_difference(a.to_numpy(), b.to_numpy())
        return {"method_a": method_a, "method_b": method_b, "seed_a": seed_a, "seed_b": seed_b,
                "acc1_a": 100.0 * a.mean(), "acc1_b": 100.0 * b.mean(), "diff": stats["diff"],
                "ci95_low": stats["ci95_low"], "ci95_high": stats["ci95_high"], "only_a": stats["only_a"],
                "only_b": stats["only_b"], "n_images": len(a), "p_value": stats["p_value"], "test": test}

    for seed_a, seed_b in _pairs(sorted(scores_a), sorted(scores_b)):
        out.append(row(str(seed_a), str(seed_b), scores_a[seed_a], scores_b[seed_b], "McNemar exact"))
    mean_a, mean_b = mean_correctness(list(scores_a.values())), mean_correctness(list(scores_b.values()))
    single = len(scores_a) == 1 and len(scores_b) == 1
    out.append(row("mean", "mean", mean_a, mean_b, "McNemar exact" if single else "paired sign-flip"))
    return pd.DataFrame(out, columns=COLUMNS)
