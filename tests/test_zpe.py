"""ZPE: weights and logits on hand-made logits against a direct computation of the paper's formula
for every debias mode, the feature-space implementation against the logit-space one, a noise
prompt weighted below an informative one, MAD selection, and the pretraining-bank fallback."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zsbench.methods.zpe import (
    ZPE,
    ZPEEqual,
    ZPESelect,
    aggregate,
    load_templates,
    mad_select,
    mean_logits,
    prompt_scores,
    scores_from_logits,
    shipped_pool,
    write_feature_bank,
)


def direct(logits, pre, mode):
    """The formula written out with loops: l~ = l - 1/2 (pre mean + test mean) (or one of them),
    s_p = mean_i max_c l~, w = softmax(s), L = (1/P) sum_p w_p l_p."""
    n, p, c = logits.shape
    scores = []
    for j in range(p):
        test_mean = [sum(logits[i, j, k] for i in range(n)) / n for k in range(c)]
        pre_mean = [sum(pre[i, j, k] for i in range(pre.shape[0])) / pre.shape[0] for k in range(c)] if pre is not None else None
        bias = {"both": lambda k: 0.5 * (pre_mean[k] + test_mean[k]), "test": lambda k: test_mean[k],
                "pretrain": lambda k: pre_mean[k], "none": lambda k: 0.0}[mode]
        scores.append(sum(max(logits[i, j, k] - bias(k) for k in range(c)) for i in range(n)) / n)
    z = sum(math.exp(s) for s in scores)
    weights = [math.exp(s) / z for s in scores]
    out = torch.zeros(n, c, dtype=torch.float64)
    for i in range(n):
        for k in range(c):
            out[i, k] = sum(weights[j] * logits[i, j, k] for j in range(p)) / p
    return torch.tensor(scores, dtype=torch.float64), torch.tensor(weights, dtype=torch.float64), out


@pytest.mark.parametrize("mode", ["both", "test", "pretrain", "none"])
def test_weights_and_logits_equal_the_formula(mode):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 4, 3, generator=g, dtype=torch.float64) * 3
    pre = torch.randn(5, 4, 3, generator=g, dtype=torch.float64) * 3 + 1
    want_scores, want_weights, want_logits = direct(logits, pre if mode in ("both", "pretrain") else None, mode)
    scores = scores_from_logits(logits, pre, mode)
    weights = torch.softmax(scores, 0)
    assert torch.allclose(scores, want_scores) and torch.allclose(weights, want_weights)
    assert torch.allclose(aggregate(logits, weights), want_logits)
    assert torch.allclose(aggregate(logits), logits.mean(1))


def test_feature_path_equals_logit_path():
    g = torch.Generator().manual_seed(1)
    x = F.normalize(torch.randn(50, 8, generator=g), dim=-1)
    bank = F.normalize(torch.randn(30, 8, generator=g), dim=-1)
    text = F.normalize(torch.randn(5, 4, 8, generator=g), dim=-1)
    logits = 100 * torch.einsum("nd,pcd->npc", x, text)
    pre = 100 * torch.einsum("nd,pcd->npc", bank, text)
    bias = 0.5 * (mean_logits(x.mean(0), text, 100) + mean_logits(bank.mean(0), text, 100))
    assert torch.allclose(prompt_scores(x, text, bias, 100), scores_from_logits(logits, pre, "both"), atol=1e-3)


class FakeText:
    """A text encoder with hand-set features: prompt 'tmpl|class' -> a given vector."""

    def __init__(self, table: dict[str, torch.Tensor]):
        self.table = table
        self.cache = None
        self.progress = None

    def encode(self, prompts):
        return torch.stack([self.table[p] for p in prompts])


def informative_and_noise(tmp_path, n_per_class=40, seed=0):
    """Three classes with distinct directions; an informative prompt whose class features are those
    directions, and a noise prompt whose class features are random."""
    g = torch.Generator().manual_seed(seed)
    d, c = 16, 3
    directions = F.normalize(torch.randn(c, d, generator=g), dim=-1)
    labels = torch.arange(c).repeat_interleave(n_per_class)
    images = F.normalize(directions[labels] + 0.6 * torch.randn(len(labels), d, generator=g), dim=-1)
    noise = F.normalize(torch.randn(c, d, generator=g), dim=-1)
    classes = ["a", "b", "c"]
    table = {"good {}".format(k): directions[i] for i, k in enumerate(classes)}
    table.update({"bad {}".format(k): noise[i] for i, k in enumerate(classes)})
    path = tmp_path / "templates.json"
    path.write_text(json.dumps(["good {}", "bad {}"]))
    dataset = SimpleNamespace(name="toy-fine", classnames=classes, templates=["good {}"], ensemble_templates=["good {}"],
                              fewshot_from=None)
    inputs = SimpleNamespace(dataset=dataset, classnames=classes, text=FakeText(table), image_features=images,
                             model=SimpleNamespace(identity="fake|w", name="fake"))
    return inputs, str(path), labels, directions, noise


def test_noise_prompt_gets_a_lower_weight(tmp_path):
    inputs, path, labels, directions, noise = informative_and_noise(tmp_path)
    for debias in ("test", "none"):
        method = ZPE(ZPE.Config(templates_file=path, debias=debias))
        method.fit(inputs)
        assert method.prompts == ["good {}", "bad {}"]
        assert method.prompt_weights[0] > method.prompt_weights[1], (debias, method.scores)
    assert method.extra_results["zpe_debias"] == "none"
    # the fitted linear head is the weighted logit average of the formula
    logits = 100 * torch.einsum("nd,pcd->npc", inputs.image_features, torch.stack([directions, noise]))
    assert torch.allclose(method.logits_from_features(inputs.image_features), aggregate(logits, method.prompt_weights), atol=1e-4)
    equal = ZPEEqual(ZPEEqual.Config(templates_file=path))
    equal.fit(inputs)
    assert torch.allclose(equal.logits_from_features(inputs.image_features), aggregate(logits), atol=1e-4)
    accuracy = lambda m: (m.logits_from_features(inputs.image_features).argmax(1) == labels).float().mean()  # noqa: E731
    assert accuracy(method) >= accuracy(equal)


def test_debias_falls_back_to_test_without_a_bank_and_uses_one_when_given(tmp_path):
    inputs, path, *_ = informative_and_noise(tmp_path)
    method = ZPE(ZPE.Config(templates_file=path))  # debias=both, no bank
    method.fit(inputs)
    assert method.extra_results["zpe_debias"] == "test" and method.extra_results["zpe_n_pretrain"] == 0
    with pytest.raises(ValueError, match="pretrain_bank"):
        ZPE(ZPE.Config(templates_file=path, debias="pretrain")).fit(inputs)
    bank = write_feature_bank(tmp_path / "bank.pt", F.normalize(torch.randn(25, 16), dim=-1), inputs.model)
    with_bank = ZPE(ZPE.Config(templates_file=path, pretrain_bank=str(bank), num_pretrain=20))
    with_bank.fit(inputs)
    assert with_bank.extra_results["zpe_debias"] == "both" and with_bank.extra_results["zpe_n_pretrain"] == 20
    other = write_feature_bank(tmp_path / "other.pt", torch.randn(5, 16), SimpleNamespace(identity="another|model"))
    with pytest.raises(ValueError, match="encoded by"):
        ZPE(ZPE.Config(templates_file=path, pretrain_bank=str(other))).fit(inputs)


def test_mad_selection_matches_numpy():
    g = torch.Generator().manual_seed(2)
    for n in (7, 8):
        scores = torch.randn(n, generator=g)
        s = scores.double().numpy()
        med = np.median(s)
        mad = np.median(np.abs(s - med))
        for t in (0.0, 0.5, 1.0):
            want = [i for i, v in enumerate(s) if (v - med) / mad > t]
            got = mad_select(scores, t).tolist()
            assert got == (want or [int(np.argmax(s))])
    assert mad_select(torch.ones(4), 0.5).tolist() == [0, 1, 2, 3]  # zero MAD: keep all


def test_selection_threshold_by_family(tmp_path):
    inputs, path, *_ = informative_and_noise(tmp_path)
    method = ZPESelect(ZPESelect.Config(templates_file=path))
    assert method.threshold(SimpleNamespace(name="imagenet-a", fewshot_from="imagenet")) == 0.5
    assert method.threshold(SimpleNamespace(name="toy-r", fewshot_from="toy")) == 0.5
    assert method.threshold(SimpleNamespace(name="dtd", fewshot_from=None)) == 2.0
    method.fit(inputs)
    assert method.extra_results["zpe_threshold"] == 2.0 and method.extra_results["zpe_n_selected"] >= 1


def test_pools(tmp_path):
    toy = SimpleNamespace(name="toy", templates=["a picture of a {}."], ensemble_templates=["a picture of a {}.", "an image of a {}."])
    pool = shipped_pool(toy)
    assert pool[:2] == toy.ensemble_templates and len(pool) == len(set(pool)) and len(pool) > 80 + 7
    assert "itap of a {}." in pool and "a centered satellite photo of {}." in pool
    lines = tmp_path / "t.txt"
    lines.write_text("a {}.\n\nthe {}.\na {}.\n")
    assert load_templates(lines) == ["a {}.", "the {}."]
    grouped = tmp_path / "g.json"
    grouped.write_text(json.dumps({"x": ["a {}."], "y": ["the {}.", "a {}."]}))
    assert load_templates(grouped) == ["a {}.", "the {}."]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(["no placeholder"]))
    with pytest.raises(ValueError, match="exactly one"):
        load_templates(bad)
