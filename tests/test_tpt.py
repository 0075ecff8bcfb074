"""TPT: the confidence selection and the average entropy against direct computations, one tuning
step on fixed view features against a hand-written AdamW step on the reference's loss, the views
(original first, deterministic, AugMix or crops), and bad hyperparameters."""
from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from zsbench.harness.core.config import ConfigError, build_config
from zsbench.harness.core.registry import DATASETS
from zsbench.harness.models.loading import load_model
from zsbench.harness.models.text_encoding import TextEncoder
from zsbench.methods.base import MethodInputs
from zsbench.methods.tpt import TPT, average_entropy, confident_selection, tune_context


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def toy_model():
    from zsbench.datasets.toy import TOY_MODEL

    return load_model(TOY_MODEL, None, device="cpu")


def _dataset(name):
    ds = DATASETS.get(name)
    return ds() if callable(ds) and not hasattr(ds, "classnames") else ds


def test_confident_selection_keeps_the_lowest_entropy_tenth():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 10, generator=g) * torch.linspace(0.1, 5, 64)[:, None]
    p = logits.softmax(1)
    entropy = -(p * p.log()).sum(1)
    want = sorted(range(64), key=lambda i: float(entropy[i]))[:6]  # int(64 * 0.1) = 6
    selected, index = confident_selection(logits, 0.1)
    assert index.tolist() == want
    assert torch.equal(selected, logits[want])


def test_average_entropy_is_the_entropy_of_the_mean_prediction():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 12, generator=g, dtype=torch.float64) * 3
    mean = logits.softmax(1).mean(0)
    assert float(average_entropy(logits)) == pytest.approx(float(-(mean * mean.log()).sum()), rel=1e-12)


def test_one_step_changes_the_context_as_adamw():
    loaded = toy_model()
    method = TPT()
    dataset = _dataset("toy")
    method.fit(MethodInputs(dataset=dataset, model=loaded, text=TextEncoder(loaded), seed=1, shots=0))
    g = torch.Generator().manual_seed(2)
    views = F.normalize(torch.randn(64, loaded.model.text_projection.shape[1],
                                    generator=g), dim=-1)
    ctx0 = method.initial_ctx.clone()
    # by hand: the reference's loss at the initial context, its gradient, AdamW's first step
    ctx = ctx0.clone().requires_grad_(True)
    learner = method.learner
    prompts = learner.construct(ctx.unsqueeze(0).expand(learner.n_cls, -1, -1))
    from zsbench.methods.prompt_learner import encode_prompt_embeddings, frozen

    with frozen(loaded.model):
        text = F.normalize(encode_prompt_embeddings(loaded.model, prompts, learner.tokenized_prompts), dim=-1)
        logits = method.logit_scale * views @ text.T
        entropy = -(logits.softmax(1) * logits.log_softmax(1)).sum(1)
        chosen = logits[torch.argsort(entropy, stable=True)[:6]]
        mean = (chosen.log_softmax(1).exp().mean(0)).log()
        loss = -(mean * mean.exp()).sum()
        (grad,) = torch.autograd.grad(loss, ctx)
    lr, wd, b1, b2, eps = 5e-3, 0.01, 0.9, 0.999, 1e-8
    m, v = (1 - b1) * grad, (1 - b2) * grad * grad
    want = ctx0 * (1 - lr * wd) - lr * (m / (1 - b1)) / ((v / (1 - b2)).sqrt() + eps)

    method.reset()
    tune_context(method.learner, loaded.model, views, method.logit_scale, method.config)
    got = method.learner.ctx.detach()
    assert not torch.equal(got, ctx0)
    assert torch.allclose(got, want, atol=1e-6, rtol=0), (got - want).abs().max()
    # and it is exactly torch's AdamW on that gradient
    p = torch.nn.Parameter(ctx0.clone())
    opt = torch.optim.AdamW([p], lr=lr)
    p.grad = grad.clone()
    opt.step()
    assert torch.allclose(got, p.detach(), atol=1e-6, rtol=0)
    method.reset()
    assert torch.equal(method.learner.ctx.detach(), ctx0)


@pytest.mark.parametrize("name,augmix", [("toy", False), ("toy-fine", True)])
def test_views_are_the_original_then_seeded_random_views(name, augmix):
    loaded = toy_model()
    dataset = _dataset(name)
    method = TPT(build_config("tpt", TPT.Config, {"n_views": "9"}))
    method.fit(MethodInputs(dataset=dataset, model=loaded, text=TextEncoder(loaded), seed=1, shots=0))
    assert method.extra_results["tpt_augmentation"] == ("augmix" if augmix else "crops")
    image = dataset.split(dataset.test_split).image(0).convert("RGB")
    views = method.views(image)
    assert views.shape[0] == 10
    assert torch.equal(views[0], loaded.preprocess(image))
    assert torch.equal(views, method.views(image))  # deterministic
    assert not torch.equal(views[1], views[2])


@pytest.mark.parametrize("overrides", [{"selection_p": "0.01"}, {"selection_p": "0"}, {"lr": "0"}, {"n_views": "0"},
                                       {"augmentation": "mixup"}, {"ctx_init": " "}, {"tta_steps": "-1"}])
def test_bad_hyperparameters_fail(overrides):
    with pytest.raises(ConfigError):
        build_config("tpt", TPT.Config, overrides)


@pytest.mark.parametrize("name", ["toy", "toy-fine"])
def test_batched_views_equal_the_per_view_pil_path(name):
    """The stacked to-tensor / normalise / AugMix mixing gives exactly the per-view transform's views."""
    loaded = toy_model()
    dataset = _dataset(name)
    method = TPT(build_config("tpt", TPT.Config, {"n_views": "12"}))
    method.fit(MethodInputs(dataset=dataset, model=loaded, text=TextEncoder(loaded), seed=3, shots=0))
    views = method.views
    assert views.batched is not None  # the toy model's transform is the standard one
    for i in range(2):
        image = dataset.split(dataset.test_split).image(i).convert("RGB")
        digest = views.digest(image)
        one_by_one = torch.stack([views.view_pil(image, v, digest) for v in range(views.n_views)])
        assert torch.equal(views(image)[1:], one_by_one)
