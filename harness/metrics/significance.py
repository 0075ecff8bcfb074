"""How sure a number is: bootstrap confidence intervals from the test-set sample, and paired tests
of two methods on the same images.

**Bootstrap over images, computed exactly and fast.** Resampling the N test images with
replacement draws each image a Multinomial(N, 1/N) number of times. Top-1 accuracy depends only on
how many draws land on correctly classified images, and mean per-class recall only on how many land
in each (class, correct) cell, so a resample is one Multinomial(N, cell shares) draw over those
cells: the same distribution as resampling image indices, at the cost of the number of cells
instead of N per resample. The same holds for any mean of a per-image value taking few distinct
values (the paired difference of two methods, averaged over seeds). Intervals are percentile
intervals over ``RESAMPLES`` resamples from a generator seeded with ``SEED``, so the same results
give the same intervals on every machine.

**Paired test.** For two methods on the same images, with per-image correctness averaged over
seeds ``a_i, b_i`` and differences ``d_i = a_i - b_i``: under the null hypothesis that the two are
exchangeable on every image, each ``d_i`` is as likely as ``-d_i`` (sign-flip randomisation test).
With one seed each, ``d_i`` is -1, 0 or 1 and the test is exactly McNemar's exact test
(``min(1, 2 P[Binomial(b + c, 1/2) <= min(b, c)])`` over the b and c discordant images), computed
exactly; otherwise the flips of each distinct ``|d|`` are Binomial draws, ``RESAMPLES`` of them.
"""
from __future__ import annotations

import math

import numpy as np

RESAMPLES = 10_000
SEED = 0
CONFIDENCE = 0.95
ALPHA = 0.05  # significance level of the leaderboard's tie marks
_CHUNK = 1000  # resamples drawn at once (bounds memory for ImageNet's 2000 cells)


def _interval(samples: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return float(low), float(high)


def _multinomial(n: int, counts: np.ndarray, resamples: int, seed: int):
    """Yield chunks [k, cells] of Multinomial(n, counts / n) draws."""
    rng = np.random.default_rng(seed)
    shares = counts / counts.sum()
    for start in range(0, resamples, _CHUNK):
        yield rng.multinomial(n, shares, size=min(_CHUNK, resamples - start))


def bootstrap_mean(values: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED,
                   confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` under the bootstrap over its items."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    levels, counts = np.unique(values, return_counts=True)
    means = np.concatenate([draws @ levels / values.size for draws in _multinomial(values.size, counts, resamples, seed)])
    return _interval(means, confidence)


def bootstrap_intervals(correct: np.ndarray, labels: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED,
                        confidence: float = CONFIDENCE) -> dict[str, float]:
    """Percent intervals of top-1 accuracy and mean per-class recall (over the classes present in
    the resample, as the point estimate is over the classes present), as results columns."""
    correct = np.asarray(correct, dtype=bool)
    labels = np.asarray(labels, dtype=np.int64)
    n = correct.size
    if n == 0:
        return {k: float("nan") for k in ("acc1_ci95_low", "acc1_ci95_high", "mean_per_class_recall_ci95_low",
                                          "mean_per_class_recall_ci95_high")}
    _, cls = np.unique(labels, return_inverse=True)
    cells = np.bincount(2 * cls + correct, minlength=2 * (cls.max() + 1))  # per class: [wrong, right]
    present = cells > 0
    counts = cells[present]
    acc, recall = [], []
    for draws in _multinomial(n, counts, resamples, seed):
        full = np.zeros((draws.shape[0], cells.size), dtype=np.int64)
        full[:, present] = draws
        right, total = full[:, 1::2], full[:, 0::2] + full[:, 1::2]
        acc.append(right.sum(1) / n)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall.append(np.nanmean(np.where(total > 0, right / np.maximum(total, 1), np.nan), axis=1))
    acc_low, acc_high = _interval(100.0 * np.concatenate(acc), confidence)
    rec_low, rec_high = _interval(100.0 * np.concatenate(recall), confidence)
    return {"acc1_ci95_low": acc_low, "acc1_ci95_high": acc_high,
            "mean_per_class_recall_ci95_low": rec_low, "mean_per_class_recall_ci95_high": rec_high}


def _log_binom_cdf_half(k: int, n: int) -> float:
    """log P[Binomial(n, 1/2) <= k], exactly in log space (n up to millions)."""
    i = np.arange(k + 1, dtype=np.float64)
    log_pmf = (math.lgamma(n + 1) - np.array([math.lgamma(x + 1) + math.lgamma(n - x + 1) for x in i])
               - n * math.log(2.0))
    top = log_pmf.max()
    return float(top + math.log(np.exp(log_pmf - top).sum()))


def mcnemar_exact(b: int, c: int) -> float:
    """McNemar's exact two-sided p-value from the discordant counts (b: only the first method is
    right, c: only the second)."""
    n = int(b) + int(c)
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * math.exp(_log_binom_cdf_half(min(int(b), int(c)), n)))


def sign_flip_p(differences: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> float:
    """Two-sided p-value of the paired sign-flip test of ``mean(differences) == 0`` (see the module
    docstring); exact (McNemar's) when every non-zero difference has the same size."""
    d = np.asarray(differences, dtype=np.float64)
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return 1.0
    sizes, counts = np.unique(np.abs(nonzero), return_counts=True)
    if sizes.size == 1:
        return mcnemar_exact(int((nonzero > 0).sum()), int((nonzero < 0).sum()))
    observed = abs(nonzero.sum())
    rng = np.random.default_rng(seed)
    positives = rng.binomial(counts[None, :], 0.5, size=(resamples, counts.size))  # flips kept positive
    sums = ((2 * positives - counts[None, :]) * sizes[None, :]).sum(1)
    tolerance = 1e-9 * max(1.0, observed)
    return float((np.count_nonzero(np.abs(sums) >= observed - tolerance) + 1) / (resamples + 1))


def paired_difference(a: np.ndarray, b: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED,
                      confidence: float = CONFIDENCE) -> dict[str, float]:
    """The paired comparison of per-image scores ``a`` and ``b`` (correctness, or its mean over
    seeds) on the same images: difference of the means in percent, its bootstrap interval, the
    discordant counts and the sign-flip (McNemar) p-value."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same images: {a.shape} vs {b.shape}")
    d = a - b
    low, high = bootstrap_mean(d, resamples, seed, confidence)
    return {"diff": 100.0 * float(d.mean()) if d.size else float("nan"), "ci95_low": 100.0 * low,
            "ci95_high": 100.0 * high, "only_a": int((d > 0).sum()), "only_b": int((d < 0).sum()),
            "p_value": sign_flip_p(d, resamples, seed)}
