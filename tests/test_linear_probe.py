"""Linear probe: the chosen C against a direct re-statement of CoOp's ``lpclip/linear_probe.py``
search (grid, then bisection in log10 space) run with sklearn, the probe's logits against sklearn's
decision function, and bad hyperparameters."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from zsbench.harness.core.config import ConfigError, build_config
from zsbench.methods.linear_probe import C_GRID, LinearProbe, probe_weights, search_c


def _data(seed=0, n_classes=4, per_class=5, val_per_class=4, d=6):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(n_classes, d))
    def draw(k):
        y = np.repeat(np.arange(n_classes), k)
        return means[y] + 1.2 * rng.normal(size=(len(y), d)), y
    return (*draw(per_class), *draw(val_per_class))


def lpclip_reference(train_x, train_y, val_x, val_y, steps=8):
    """The reference script's search, restated line by line."""
    def acc(c):
        clf = LogisticRegression(solver="lbfgs", max_iter=1000, C=c).fit(train_x, train_y)
        return sum(clf.predict(val_x) == val_y) / len(val_y)
    search_list = [1e6, 1e4, 1e2, 1, 1e-2, 1e-4, 1e-6]
    c_peak = search_list[int(np.argmax([acc(c) for c in search_list]))]
    c_left, c_right = 1e-1 * c_peak, 1e1 * c_peak
    c_final = None
    for _ in range(steps):
        acc_left, acc_right = acc(c_left), acc(c_right)
        if acc_left < acc_right:
            c_final = c_right
            c_left = 0.5 * (np.log10(c_right) + np.log10(c_left))
            c_right = np.log10(c_right)
        else:
            c_final = c_left
            c_right = 0.5 * (np.log10(c_right) + np.log10(c_left))
            c_left = np.log10(c_left)
        c_left, c_right = np.power(10, c_left), np.power(10, c_right)
    return c_final


@pytest.mark.parametrize("seed", [0, 1])
def test_chosen_c_is_the_references(seed):
    train_x, train_y, val_x, val_y = _data(seed)
    c, clf, tried = search_c(train_x, train_y, val_x, val_y, C_GRID, 8)
    assert c == pytest.approx(lpclip_reference(train_x, train_y, val_x, val_y), rel=1e-12)
    assert len(tried) == len(C_GRID) + 2 * 8
    assert clf.C == pytest.approx(c, rel=1e-12)


def test_probe_logits_are_the_decision_function():
    train_x, train_y, val_x, _ = _data(2)
    clf = LogisticRegression(solver="lbfgs", max_iter=1000, C=1.0).fit(train_x, train_y)
    w, b = probe_weights(clf, 4)
    method = LinearProbe()
    method.weights, method.bias = w, b
    got = method.logits_from_features(torch.as_tensor(val_x, dtype=torch.float32))
    assert np.allclose(got.numpy(), clf.decision_function(val_x), atol=1e-4)
    # binary: two columns whose argmax is sklearn's prediction
    keep = train_y < 2
    clf2 = LogisticRegression(solver="lbfgs", max_iter=1000).fit(train_x[keep], train_y[keep])
    w2, b2 = probe_weights(clf2, 2)
    logits = torch.as_tensor(val_x, dtype=torch.float32) @ w2.T + b2
    assert np.array_equal(logits.argmax(1).numpy(), clf2.predict(val_x))


@pytest.mark.parametrize("overrides", [{"c_grid": "0,1"}, {"c_grid": ""}, {"search_steps": "-1"}, {"max_iter": "0"},
                                       {"val_from_test": "sometimes"}])
def test_bad_hyperparameters_fail(overrides):
    with pytest.raises(ConfigError):
        build_config("lp", LinearProbe.Config, overrides)
