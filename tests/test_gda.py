"""GDA: the shrinkage formula against a direct computation, the head against the Bayes classifier
on synthetic Gaussians, the alpha search (first best, the reference's 0.1 default), the augmented
views, and the method end to end on the toy world (cached head reused by a shifted domain)."""
from __future__ import annotations

import math

import pytest
import torch

from zsbench.harness.core.registry import DATASETS
from zsbench.harness.models.text_encoding import TextEncoder
from zsbench.methods.augment import SeededAugment, ViewsSplit, crop_params, split_preprocess
from zsbench.methods.gda import ALPHAS, GDA, class_means, gda_head, search_alpha, shrunk_precision, text_templates


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_shrinkage_matches_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    n, d = 40, 7
    x = torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.randn(d, d, generator=g, dtype=torch.float64)
    x = x - x.mean(0)
    s = (x.T @ x) / (n - 1)  # unbiased covariance of centred data
    direct = d * torch.linalg.inv((n - 1) * s + torch.trace(s) * torch.eye(d, dtype=torch.float64))
    assert torch.allclose(shrunk_precision(x), direct, rtol=1e-9, atol=1e-12)


def test_head_matches_the_formula():
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(3).repeat(10)
    x = torch.randn(30, 5, generator=g, dtype=torch.float64) + torch.randn(3, 5, generator=g, dtype=torch.float64)[labels]
    w, b = gda_head(x, labels, 3)
    mus = torch.stack([x[labels == k].mean(0) for k in range(3)])
    p = shrunk_precision(x - mus[labels])
    assert torch.allclose(w.double(), mus @ p, rtol=1e-5, atol=1e-5)
    want_b = torch.tensor([math.log(1 / 3) - 0.5 * float(mus[k] @ p @ mus[k]) for k in range(3)], dtype=torch.float64)
    assert torch.allclose(b.double(), want_b, rtol=1e-5, atol=1e-4)
    assert torch.allclose(class_means(x, labels, 3), mus)


def _gaussians(means: torch.Tensor, chol: torch.Tensor, per_class: int, g: torch.Generator):
    c, d = means.shape
    labels = torch.arange(c).repeat_interleave(per_class)
    x = means[labels] + torch.randn(len(labels), d, generator=g, dtype=torch.float64) @ chol.T
    return x, labels


def test_head_recovers_the_bayes_classifier():
    """Two classes with a shared covariance: the Bayes accuracy is Phi(Delta / 2), Delta the
    Mahalanobis distance between the means; four classes: the head agrees with the true-parameter
    classifier on a large test set."""
    g = torch.Generator().manual_seed(0)
    d = 8
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    cov = a @ a.T / d + 0.5 * torch.eye(d, dtype=torch.float64)
    chol = torch.linalg.cholesky(cov)
    means = torch.randn(2, d, generator=g, dtype=torch.float64)
    delta = float(torch.sqrt((means[0] - means[1]) @ torch.linalg.solve(cov, means[0] - means[1])))
    analytic = 100 * 0.5 * (1 + math.erf(delta / 2 / math.sqrt(2)))
    assert 60 < analytic < 97  # a task where the covariance matters
    x, y = _gaussians(means, chol, 4000, g)
    w, b = gda_head(x, y, 2)
    xt, yt = _gaussians(means, chol, 50000, g)
    acc = 100 * ((xt.float() @ w.T + b).argmax(1) == yt).double().mean().item()
    assert abs(acc - analytic) < 1.0, (acc, analytic)

    means4 = 0.8 * torch.randn(4, d, generator=g, dtype=torch.float64)
    x, y = _gaussians(means4, chol, 4000, g)
    w, b = gda_head(x, y, 4)
    xt, yt = _gaussians(means4, chol, 25000, g)
    precision = torch.linalg.inv(cov)
    bayes = (xt @ precision @ means4.T - 0.5 * ((means4 @ precision) * means4).sum(-1)).argmax(1)
    acc_bayes = 100 * (bayes == yt).double().mean().item()
    acc_head = 100 * ((xt.float() @ w.T + b).argmax(1) == yt).double().mean().item()
    assert abs(acc_head - acc_bayes) < 1.0, (acc_head, acc_bayes)


def test_alpha_search_keeps_the_first_best():
    labels = torch.tensor([0, 2])
    text = torch.tensor([[0.0, 5.0, 0.0], [0.0, 0.0, 1.0]])  # image 0 wrong by a margin of 5, image 1 right
    gda = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # image 0 right once alpha > 5
    assert [search_alpha(text, gda, labels, (a,))[1] for a in ALPHAS] == [50.0] * 5 + [100.0] * 2
    assert search_alpha(text, gda, labels, ALPHAS) == (10.0, 100.0)  # 10 and 100 tie: the first wins
    assert search_alpha(text, gda, labels, (100.0, 10.0)) == (100.0, 100.0)
    assert search_alpha(text[1:], gda[1:], labels[1:], ALPHAS) == (1e-4, 100.0)  # all tie
    nothing = search_alpha(torch.zeros(2, 3), -torch.eye(3)[:2], torch.tensor([0, 1]), ALPHAS)
    assert nothing == (0.1, 0.0)  # nothing right at any alpha: the reference's starting alpha


def test_templates_follow_the_reference():
    from zsbench.datasets.catalog import _dataset
    from zsbench.datasets.records import RECORDS
    from zsbench.datasets.templates import IMAGENET_TEMPLATES_SELECT

    imagenet = _dataset(RECORDS["imagenet"], ["tench"], {}, "test", None)  # ImageNet's record, without its data
    toy = DATASETS.get("toy")()
    assert text_templates(imagenet) == list(IMAGENET_TEMPLATES_SELECT) and len(text_templates(imagenet)) == 7
    assert text_templates(toy) == toy.templates == ["a picture of a {}."]


def test_augmented_views_are_seeded_by_view_and_pixels(toy_model):
    split = DATASETS.get("toy")().split("train").subset(range(3))
    size, finish = split_preprocess(toy_model.preprocess, toy_model.model)
    assert size == 64
    aug = SeededAugment(size, (0.5, 1.0), "s1", finish)
    views = ViewsSplit(split, 2).with_transform(aug)
    assert len(views) == 6 and views.labels.tolist() == split.labels.tolist() * 2
    x00, x01, x10 = views[0][0], views[3][0], views[1][0]
    assert x00.shape == (3, 64, 64)
    assert torch.equal(x00, views[0][0]) and torch.equal(x00, aug(split.image(0), 0))  # reproducible
    assert not torch.equal(x00, x01) and not torch.equal(x00, x10)  # another view, another image
    assert not torch.equal(x00, SeededAugment(size, (0.5, 1.0), "s2", finish)(split.image(0), 0))
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        top, left, h, w = crop_params(50, 30, (0.08, 1.0), (3 / 4, 4 / 3), g)
        assert 0 <= top and top + h <= 30 and 0 <= left and left + w <= 50 and h > 0 and w > 0


def test_gda_end_to_end_on_the_toy_world(tmp_path, toy_model, fewshot_inputs):
    cfg = GDA.Config(augment_views=2)
    on_toy = GDA(cfg)
    inputs = fewshot_inputs("toy", test_images=24)
    on_toy.fit(inputs)
    assert on_toy.alpha in ALPHAS and on_toy.extra_results["gda_alpha_split"] == "fewshot-val"
    feats = inputs.image_features
    want = 100 * feats @ on_toy.text_weights.T + on_toy.alpha * (feats @ on_toy.weights.T + on_toy.bias)
    assert torch.allclose(on_toy.logits_from_features(feats), want)
    text = TextEncoder(toy_model).classifier(inputs.dataset.classnames, inputs.dataset.templates)
    assert torch.allclose(on_toy.text_weights, text, atol=1e-5)

    on_shift = GDA(cfg)  # toy-a trains on toy: the same cached head and alpha
    on_shift.fit(fewshot_inputs("toy-a", test_images=24))
    assert on_shift.alpha == on_toy.alpha and torch.equal(on_shift.weights, on_toy.weights)
    assert len(list((tmp_path / "cache" / "gda-head").rglob("*.pt"))) == 1

    on_test = GDA(GDA.Config(augment_views=2, alpha_on_test=True))
    on_test.fit(fewshot_inputs("toy", test_images=24))
    assert on_test.extra_results["gda_alpha_split"] == "val"  # toy has a val split: the reference's full-val search
