"""Bootstrap intervals and paired tests: the fast cell formulation agrees with the textbook
definitions (index resampling, exact enumeration, the binomial formula)."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from zsbench.harness.metrics.significance import (
    bootstrap_intervals,
    bootstrap_mean,
    mcnemar_exact,
    paired_difference,
    sign_flip_p,
)


def _naive_intervals(correct, labels, resamples=4000, seed=7):
    """The textbook bootstrap: resample image indices with replacement."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(correct), size=(resamples, len(correct)))
    acc = 100 * correct[idx].mean(1)
    recalls = []
    for row in idx:
        c, y = correct[row], labels[row]
        recalls.append(100 * np.mean([c[y == k].mean() for k in np.unique(y)]))
    return np.quantile(acc, [0.025, 0.975]), np.quantile(recalls, [0.025, 0.975])


def test_cell_bootstrap_matches_index_resampling():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), [10, 20, 30, 40, 50, 50])  # unbalanced classes
    correct = rng.random(len(labels)) < np.linspace(0.3, 0.9, len(labels))
    ours = bootstrap_intervals(correct, labels)
    acc, recall = _naive_intervals(correct, labels)
    # Monte Carlo error of a 2.5 % quantile with thousands of resamples: well under one point here
    assert ours["acc1_ci95_low"] == pytest.approx(acc[0], abs=0.8)
    assert ours["acc1_ci95_high"] == pytest.approx(acc[1], abs=0.8)
    assert ours["mean_per_class_recall_ci95_low"] == pytest.approx(recall[0], abs=1.0)
    assert ours["mean_per_class_recall_ci95_high"] == pytest.approx(recall[1], abs=1.0)
    point = 100 * correct.mean()
    assert ours["acc1_ci95_low"] < point < ours["acc1_ci95_high"]


def test_intervals_are_seeded_and_shrink_with_more_images():
    rng = np.random.default_rng(1)
    small = rng.random(100) < 0.6
    large = rng.random(10_000) < 0.6
    a, b = bootstrap_intervals(small, np.zeros(100)), bootstrap_intervals(small, np.zeros(100))
    assert a == b  # same inputs, same interval: a fixed seed
    width = lambda r: r["acc1_ci95_high"] - r["acc1_ci95_low"]  # noqa: E731
    wide, narrow = width(a), width(bootstrap_intervals(large, np.zeros(10_000)))
    # the binomial standard error scales as 1/sqrt(n): 10x narrower for 100x the images
    assert 7 < wide / narrow < 13
    assert wide == pytest.approx(2 * 1.96 * 100 * math.sqrt(0.6 * 0.4 / 100), rel=0.25)


def test_mcnemar_exact_is_the_two_sided_binomial_test():
    def by_formula(b, c):
        n, k = b + c, min(b, c)
        return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)

    for b, c in [(0, 0), (0, 5), (3, 4), (10, 20), (1, 30), (250, 200)]:
        assert mcnemar_exact(b, c) == pytest.approx(by_formula(b, c), rel=1e-9)
    assert mcnemar_exact(10, 20) == pytest.approx(0.09873714670539, rel=1e-9)


def test_sign_flip_is_mcnemar_on_single_runs_and_exact_enumeration_otherwise():
    d = np.array([1] * 12 + [-1] * 4 + [0] * 30)
    assert sign_flip_p(d) == mcnemar_exact(12, 4)
    d = np.array([1, 2 / 3, 2 / 3, 1 / 3, -1 / 3, 1, 1, 2 / 3, 0, 0])
    nonzero = d[d != 0]
    flips = [abs(sum(s * v for s, v in zip(signs, nonzero))) for signs in itertools.product((1, -1), repeat=len(nonzero))]
    exact = np.mean(np.array(flips) >= abs(nonzero.sum()) - 1e-12)
    assert sign_flip_p(d) == pytest.approx(exact, abs=0.01)


def test_paired_difference_counts_and_interval():
    a = np.array([1] * 70 + [0] * 30, dtype=float)
    b = np.array([1] * 60 + [0] * 10 + [1] * 5 + [0] * 25, dtype=float)
    stats = paired_difference(a, b)
    assert stats["diff"] == pytest.approx(5.0)
    assert (stats["only_a"], stats["only_b"]) == (10, 5)
    assert stats["p_value"] == pytest.approx(mcnemar_exact(10, 5))
    assert stats["ci95_low"] < 5.0 < stats["ci95_high"]
    low, high = bootstrap_mean(a - b)
    assert (100 * low, 100 * high) == (stats["ci95_low"], stats["ci95_high"])
    with pytest.raises(ValueError, match="same images"):
        paired_difference(a, b[:-1])
