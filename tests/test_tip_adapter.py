"""Tip-Adapter / Tip-Adapter-F: the cache logits and the search rule against a direct computation of
the reference's formulas (``utils.py`` search_hp, ``main.py``), the per-dataset reference values,
the adapter training loop, the cache built from GDA's views, the reference's search-on-test switch
end to end, and bad hyperparameters failing before any model work."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from zsbench.harness.core.config import ConfigError, build_config
from zsbench.harness.evaluation.runner import Runner, RunSpec
from zsbench.methods.gda import GDA, accuracy
from zsbench.methods.tip_adapter import (TipAdapter, TipAdapterF, cache_logits, reference_config, search_grid,
                                         search_hp, tip_logits, train_adapter)


def _fixed(n=30, nk=24, c=4, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
    keys = F.normalize(torch.randn(nk, d, generator=g, dtype=torch.float64), dim=-1)
    labels_k = torch.arange(nk) % c
    values = F.one_hot(labels_k, c).double()
    text = F.normalize(torch.randn(c, d, generator=g, dtype=torch.float64), dim=-1)
    y = torch.randint(0, c, (n,), generator=g)
    return x, keys, values, text, y


def test_cache_logits_match_the_formula():
    x, keys, values, text, _ = _fixed()
    beta, alpha = 5.5, 1.7
    direct = torch.zeros(x.shape[0], values.shape[1], dtype=torch.float64)
    for i in range(x.shape[0]):
        for j in range(keys.shape[0]):
            direct[i] += torch.exp(-beta * (1 - x[i] @ keys[j])) * values[j]
    assert torch.allclose(cache_logits(x @ keys.T, values, beta), direct, atol=1e-12)
    want = 100 * x @ text.T + alpha * direct
    assert torch.allclose(tip_logits(100 * x @ text.T, x @ keys.T, values, beta, alpha), want, atol=1e-10)

    method = TipAdapter()
    method.text_weights, method.keys, method.values, method.beta, method.alpha = text.float(), keys.float(), values.float(), beta, alpha
    assert torch.allclose(method.logits_from_features(x.float()), want.float(), atol=1e-3)


def test_search_grid_and_rule_are_the_references():
    assert search_grid(7, 200)[:3] == [0.1, 6.9 / 200 + 0.1, 2 * 6.9 / 200 + 0.1]
    assert len(search_grid(3, 20)) == 20 and max(search_grid(3, 20)) < 3
    x, keys, values, text, y = _fixed(seed=3)
    clip = 100 * x @ text.T
    betas, alphas = search_grid(7, 13), search_grid(3, 7)
    best = (0.0, 0.0, 0.0)  # (acc, beta, alpha): beta outer, first strict best
    for beta in betas:
        for alpha in alphas:
            pred = (clip + alpha * torch.exp(-beta * (1 - x @ keys.T)) @ values).argmax(1)
            acc = 100.0 * int((pred == y).sum()) / len(y)
            if acc > best[0]:
                best = (acc, beta, alpha)
    beta, alpha, acc = search_hp(clip, x @ keys.T, values, y, betas, alphas)
    assert (acc, beta, alpha) == best and acc > 0
    # nothing right: the reference's start (beta, alpha) = (0, 0) is kept
    wrong = (clip.argmax(1) + 1) % values.shape[1]
    far = torch.full_like(x @ keys.T, -50.0)
    assert search_hp(clip, far, values, wrong, [1.0], [0.1]) == (0.0, 0.0, 0.0)


def test_per_dataset_reference_values():
    assert reference_config("imagenet") == (7, 3, 1.17, 20)
    assert reference_config("eurosat")[3] == 100
    assert reference_config("toy") == reference_config("imagenet")  # no reference config: ImageNet's
    resolved = TipAdapterF(build_config("tip-adapter-f", TipAdapterF.Config, {"init_alpha": "2.5"})).resolved(
        SimpleNamespace(name="dtd"))
    assert resolved == {"beta_max": 13, "alpha_max": 13, "init_alpha": 2.5, "epochs": 20}


def test_adapter_training_matches_a_hand_written_loop():
    x, keys, values, text, y = _fixed(n=24, nk=24, seed=5)
    x, keys, values, text = x.float(), keys.float(), values.float(), text.float()
    views = torch.stack([F.normalize(x + 0.05 * k, dim=-1) for k in range(3)])
    cfg = SimpleNamespace(lr=1e-3, eps=1e-4, weight_decay=0.01, batch_size=10, logit_scale=100.0)
    accs = iter([10.0, 30.0, 20.0])
    weight, best_epoch, best_acc, losses = train_adapter(keys, values, text, views, y, cfg, 1.0, 1.17, 3,
                                                         torch.Generator().manual_seed(7), lambda w: next(accs))
    # by hand: the same batches, AdamW + cosine annealing per step; keep the epoch-1 weight (best 30 %)
    g = torch.Generator().manual_seed(7)
    p = torch.nn.Parameter(keys.clone())
    opt = torch.optim.AdamW([p], lr=1e-3, eps=1e-4, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 3 * 3)
    kept = None
    for epoch in range(3):
        order = torch.randperm(24, generator=g)
        for s in range(0, 24, 10):
            b = order[s:s + 10]
            logits = 100 * views[epoch][b] @ text.T + 1.17 * torch.exp(-(1 - views[epoch][b] @ p.T)) @ values
            loss = F.cross_entropy(logits, y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if epoch == 1:
            kept = p.detach().clone()
    assert best_epoch == 1 and best_acc == 30.0 and len(losses) == 3
    assert torch.allclose(weight, kept, atol=1e-6)  # float rounding of the two orders of operations
    assert not torch.equal(weight, keys)


@pytest.mark.parametrize("method,overrides", [
    (TipAdapter, {"beta_max": "0.05"}), (TipAdapter, {"beta_steps": "0"}), (TipAdapter, {"init_alpha": "-1"}),
    (TipAdapter, {"crop_scale_min": "0"}), (TipAdapterF, {"lr": "0"}), (TipAdapterF, {"train_epochs": "0"}),
    (TipAdapterF, {"search_on_test": "maybe"}),
])
def test_bad_hyperparameters_fail(method, overrides):
    with pytest.raises(ConfigError):
        build_config(method.name, method.Config, overrides)


def test_cache_keys_are_the_mean_of_gdas_views(fewshot_inputs, toy_model, monkeypatch):
    """Tip-Adapter and GDA run on the same subsets and views: the keys are GDA's view features of
    each training image, averaged and renormalised, read back from the feature cache."""
    inputs = fewshot_inputs("toy", shots=4)
    gda_views, gda_labels = GDA(GDA.Config(augment_views=3)).view_features(inputs)
    n = len(inputs.fewshot.train)
    assert gda_views.shape[0] == 3 * n and torch.equal(gda_labels[:n], inputs.fewshot.train.labels)

    encoded = []
    real = toy_model.model.encode_image
    monkeypatch.setattr(toy_model.model, "encode_image", lambda pixels, *a, **k: encoded.append(len(pixels)) or real(pixels, *a, **k))
    keys, values = TipAdapter(TipAdapter.Config(augment_views=3)).cache_model(inputs)
    assert encoded == []  # GDA's views, from the cache: no image encoded again
    want = F.normalize(gda_views.reshape(3, n, -1).mean(0), dim=-1)
    assert torch.equal(keys, want)
    assert torch.equal(values, F.one_hot(inputs.fewshot.train.labels, 12).float())

    keys_other, _ = TipAdapter(TipAdapter.Config(augment_views=3, crop_scale_min=0.3)).cache_model(inputs)
    assert sum(encoded) == 3 * n and not torch.allclose(keys_other, keys)  # other crops: other views, encoded


def test_search_on_test_reproduces_the_references_choice(fewshot_inputs):
    """``search_on_test``: beta/alpha searched on the source's whole val split (toy has one), the
    same as the reference's search_hp over those features; by default on the few-shot val subset;
    Tip-Adapter-F with the switch picks its epoch on the test split."""
    inputs = fewshot_inputs("toy", shots=4)
    default = TipAdapter(TipAdapter.Config(beta_steps=20, alpha_steps=10))
    default.fit(inputs)
    on_test = TipAdapter(TipAdapter.Config(beta_steps=20, alpha_steps=10, search_on_test=True))
    on_test.fit(inputs)
    assert default.extra_results["tip_search_split"] == "fewshot-val"
    assert on_test.extra_results["tip_search_split"] == "val"

    data = inputs.dataset
    for method, split in ((default, inputs.fewshot.val), (on_test, data.split(data.val_split))):
        features = inputs.encode_images(split)
        assert len(features) == len(split)
        beta, alpha, acc = search_hp(100 * features @ method.text_weights.T, features @ method.keys.T, method.values,
                                     split.labels, search_grid(7, 20), search_grid(3, 10))
        assert (method.beta, method.alpha, method.extra_results["tip_search_acc"]) == (beta, alpha, acc)
    assert len(data.split(data.val_split)) > len(inputs.fewshot.val)

    tuned = TipAdapterF(TipAdapterF.Config(beta_steps=5, alpha_steps=5, train_epochs=2, search_on_test=True))
    tuned.fit(inputs)
    assert tuned.extra_results["tip_search_split"] == "val" and tuned.extra_results["tip_epochs"] == 2
    test = data.split(data.test_split)
    test_features = inputs.encode_images(test)
    best_epoch_acc = tuned.extra_results["tip_best_epoch_acc"]
    ref = tuned.resolved(data)
    # the kept epoch's keys give its recorded accuracy on the *test* split, at the initial beta/alpha
    assert best_epoch_acc == accuracy(tip_logits(100 * test_features @ tuned.text_weights.T, test_features @ tuned.keys.T,
                                                 tuned.values, tuned.config.init_beta, ref["init_alpha"]), test.labels)


def test_search_on_test_is_part_of_the_results_identity(tmp_path):
    """The switch reaches the results row through ``--set`` and changes the row's identity."""
    rows = {}
    for flag in ("false", "true"):
        spec = RunSpec(methods=["tip-adapter"], datasets=["toy"], shots=2, seeds=(1,), results_dir=tmp_path / "results",
                       cache_dir=tmp_path / "cache", overrides=[f"search_on_test={flag}", "beta_steps=10", "alpha_steps=5"],
                       device="cpu", latency_images=0, limit=60)
        (evaluation,) = Runner(spec).run()
        rows[flag] = evaluation.row
    assert json.loads(rows["true"]["config_json"])["search_on_test"] is True
    assert json.loads(rows["false"]["config_json"])["search_on_test"] is False
    assert rows["true"]["out_tip_search_split"] == "val" and rows["false"]["out_tip_search_split"] == "fewshot-val"
    assert rows["true"]["eval_id"] != rows["false"]["eval_id"]
