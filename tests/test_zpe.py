"""ZPE: weights and logits on hand-made logits against a direct computation of the paper's formula
for every debias mode, the feature-space implementation against the logit-space one, a noise
prompt weighted below an informative one, MAD selection (a zero MAD as the reference divides by
it), the pretraining-bank fallback; the reference's 247-template pool (from the shared JSON, the
ast parser on a synthetic multimodal_utils.py, the pinned download and its checksum), the inputs
resolved before any model work and their hash in the row, and every bad input as a ConfigError
naming the flag or file. No test touches the network: downloads are faked or refused."""
from __future__ import annotations

import io
import json
import math
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zsbench.harness.core.config import ConfigError, build_config
from zsbench.harness.core.downloads import DownloadError, PinnedFile, cache_path
from zsbench.harness.core.hashing import bytes_sha256, file_sha256
from zsbench.harness.core.registry import DATASETS
from zsbench.methods import zpe
from zsbench.methods.zpe import (
    REFERENCE_COMMIT,
    REFERENCE_POOL,
    ZPE,
    ZPEEqual,
    DEBIAS_MODES,
    ZPESelect,
    is_template,
    load_templates,
    mad_select,
    mean_logits,
    pool_sha256,
    prompt_scores,
    shipped_pool,
    write_feature_bank,
)

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"  # as conftest.REFERENCE
SHARED_TEMPLATES = REFERENCE / "zpe" / "zeroshot_templates.json"
METHODS = [ZPE, ZPESelect, ZPEEqual]


# The paper's formulas on explicit logits [N, P, C] (the reference's shapes), to check the
# feature-space implementation (which never materialises [N, P, C]) against.

def debiased(logits: torch.Tensor, pretrain_logits: torch.Tensor | None, debias: str, frac_test: float = 1.0) -> torch.Tensor:
    """The reference's ``normalised`` logits for ``debias`` (``get_weights``), on explicit [N, P, C]."""
    if debias not in DEBIAS_MODES:
        raise ValueError(f"debias={debias!r}: choose one of {', '.join(DEBIAS_MODES)}")
    if debias in ("both", "pretrain") and pretrain_logits is None:
        raise ValueError(f"debias={debias!r} needs logits of a pretraining-like image set")
    test_mean = logits[: round(logits.shape[0] * frac_test)].mean(0, keepdim=True) if debias in ("both", "test") else None
    pre_mean = pretrain_logits.mean(0, keepdim=True) if debias in ("both", "pretrain") else None
    if debias == "both":
        return logits - 0.5 * (pre_mean + test_mean)
    if debias == "test":
        return logits - test_mean
    if debias == "pretrain":
        return logits - pre_mean
    return logits


def scores_from_logits(logits: torch.Tensor, pretrain_logits: torch.Tensor | None = None, debias: str = "both",
                       frac_test: float = 1.0) -> torch.Tensor:
    """[P] prompt scores ``s_p = mean_i max_c l~[i, p, c]``."""
    return debiased(logits, pretrain_logits, debias, frac_test).max(-1).values.mean(0)


def aggregate(logits: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """[N, C] ``(1/P) sum_p w_p l[:, p, :]`` (the reference's ``agg_logits``; equal weights if None)."""
    if weights is None:
        return logits.mean(1)
    return (logits * weights[None, :, None]).mean(1)


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
    dataset = SimpleNamespace(name="toy-fine", family=None, classnames=classes, templates=["good {}"], ensemble_templates=["good {}"],
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


def test_selection_threshold_by_family(tmp_path):
    inputs, path, *_ = informative_and_noise(tmp_path)
    method = ZPESelect(ZPESelect.Config(templates_file=path))
    assert method.threshold(SimpleNamespace(name="imagenet-a", family="imagenet")) == 0.5
    assert method.threshold(DATASETS.get("toy-r")()) == 0.5
    assert method.threshold(SimpleNamespace(name="dtd", family=None)) == 2.0
    method.fit(inputs)
    assert method.extra_results["zpe_threshold"] == 2.0 and method.extra_results["zpe_n_selected"] >= 1


def test_pools(tmp_path):
    toy = SimpleNamespace(name="toy", family="imagenet", templates=["a picture of a {}."], ensemble_templates=["a picture of a {}.", "an image of a {}."])
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


# ---------------------------------------------------------------------------------------------
# the reference's prompt pool
# ---------------------------------------------------------------------------------------------

class AnyText:
    """A text encoder giving every prompt a fixed pseudo-random unit vector (from its crc32)."""

    cache = progress = None

    def __init__(self, dim=16, table=None):
        self.dim, self.table = dim, table or {}

    def encode(self, prompts):
        def vec(p):
            if p in self.table:
                return self.table[p]
            return F.normalize(torch.randn(self.dim, generator=torch.Generator().manual_seed(zlib.crc32(p.encode()))), dim=0)
        return torch.stack([vec(p) for p in prompts])


def toy_inputs(n=30, dim=16, table=None, name="toy-fine"):
    classes = ["a", "b", "c"]
    dataset = SimpleNamespace(name=name, classnames=classes, templates=["a {}."], ensemble_templates=["a {}.", "the {}."],
                              fewshot_from=None, family=None)
    images = F.normalize(torch.randn(n, dim, generator=torch.Generator().manual_seed(3)), dim=-1)
    return SimpleNamespace(dataset=dataset, classnames=classes, text=AnyText(dim, table), image_features=images,
                           model=SimpleNamespace(identity="fake|w", name="fake"))


SYNTHETIC_UTILS = """\"\"\"A multimodal_utils.py look-alike: importing or running it fails.\"\"\"
import no_such_module_zpe_test  # would fail on import
raise SystemExit("this file was executed")

_ZEROSHOT_CLASS_NAMES = {"toy": ["a", "b"]}

_ZEROSHOT_TEMPLATES = {
    'imagenet': ['a bad photo of a {}.', 'itap of a {}.'],
    'none': ['{}'],
    'photo': ['a photo of a {}.', 'itap of a {}.'],  # repeats are pooled once, first seen first
}


def get_zeroshot_template(prompts_key):
  _ZEROSHOT_TEMPLATES = {'local': ['not {} this one']}  # not top level: ignored
  return _ZEROSHOT_TEMPLATES[prompts_key]
"""
SYNTHETIC_POOL = ["a bad photo of a {}.", "itap of a {}.", "{}", "a photo of a {}."]


@pytest.fixture
def offline(monkeypatch):
    """Every download attempt fails as it does without a network; returns the URLs tried."""
    tried = []

    def refuse(url, timeout=None):
        tried.append(url)
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return tried


@pytest.fixture
def synthetic_reference(monkeypatch, tmp_path):
    """REFERENCE_POOL pinned to the synthetic file instead (its sha256), nothing cached yet."""
    data = SYNTHETIC_UTILS.encode()
    pinned = PinnedFile(url="https://raw.githubusercontent.com/example/repo/0123abcd/multimodal_utils.py",
                        checksum=f"sha256:{bytes_sha256(data)}", cache_name="zpe/test-multimodal_utils.py")
    monkeypatch.setattr(zpe, "REFERENCE_POOL", pinned)
    return pinned, data


def test_pinned_reference_source():
    assert REFERENCE_POOL.url == ("https://raw.githubusercontent.com/google/uncertainty-baselines/"
                                  f"{REFERENCE_COMMIT}/experimental/multimodal/multimodal_utils.py")
    assert REFERENCE_COMMIT == "163351d4c92340a80e572bc376ec837d8e96399d"
    assert REFERENCE_POOL.checksum.startswith("sha256:") and REFERENCE_COMMIT[:8] in REFERENCE_POOL.cache_name
    assert [M.Config().pool for M in METHODS] == ["reference"] * 3


@pytest.mark.skipif(not SHARED_TEMPLATES.is_file(), reason=f"shared reference pool not found at {SHARED_TEMPLATES}")
def test_reference_pool_has_247_templates():
    """The notebook's pool, list(set(sum(_ZEROSHOT_TEMPLATES.values(), []))), in first-seen order."""
    groups = json.loads(SHARED_TEMPLATES.read_text())
    pool = load_templates(SHARED_TEMPLATES)
    assert len(groups) == 44 and len(pool) == 247
    assert set(pool) == set(sum(groups.values(), [])) and len(pool) == len(set(pool))
    assert pool == list(dict.fromkeys(t for group in groups.values() for t in group))
    assert "{}" in pool and is_template("{}")  # the bare class name ('none') is a template like the others
    method = ZPE(ZPE.Config(templates_file=str(SHARED_TEMPLATES)))
    assert method.resolve_inputs(toy_inputs().dataset) == {"pool_sha256": pool_sha256(pool)}


def test_pool_file_python_is_parsed_with_ast_never_run(tmp_path, offline):
    path = tmp_path / "multimodal_utils.py"
    path.write_text(SYNTHETIC_UTILS)
    assert load_templates(path) == SYNTHETIC_POOL
    method = ZPEEqual(ZPEEqual.Config(templates_file=str(path)))
    method.fit(toy_inputs())
    assert method.prompts == SYNTHETIC_POOL and method.extra_results["zpe_n_prompts"] == 4
    for source, problem in [("_ZEROSHOT_TEMPLATES = dict(a=['{}'])\n", "not a plain literal"),
                            ("TEMPLATES = {'a': ['{}']}\n", "no top-level"),
                            ("_ZEROSHOT_TEMPLATES = {\n", "not valid Python"),
                            ("_ZEROSHOT_TEMPLATES = {'a': 3}\n", "expected a list"),
                            ("_ZEROSHOT_TEMPLATES = {'a': []}\n", "no templates")]:
        path.write_text(source)
        with pytest.raises(ConfigError, match=problem) as err:
            ZPE(ZPE.Config(templates_file=str(path))).resolve_inputs(toy_inputs().dataset)
        assert f"templates_file={path}" in str(err.value)


def test_default_pool_is_the_fetched_reference_file(synthetic_reference, offline):
    """pool=reference reads the verified cached file (no download when it matches), for every
    dataset alike, and fit records the pool's hash."""
    pinned, data = synthetic_reference
    cached = cache_path(pinned)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data)
    for M in METHODS:
        method = M()
        inputs = toy_inputs()
        identity = method.resolve_inputs(inputs.dataset)
        assert identity == {"pool_sha256": pool_sha256(SYNTHETIC_POOL)}
        method.fit(inputs)
        assert method.prompts == SYNTHETIC_POOL
        assert method.extra_results["zpe_pool_sha256"] == identity["pool_sha256"]
        assert method.extra_results["zpe_n_prompts"] == 4
    assert M().resolve_inputs(toy_inputs(name="toy-r").dataset) == identity  # dataset-independent
    assert offline == []


def test_cached_pool_with_a_wrong_checksum_is_fetched_again_or_refused(synthetic_reference, monkeypatch):
    pinned, data = synthetic_reference
    cached = cache_path(pinned)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data.replace(b"itap", b"ITAP"))  # edited copy: not the pinned file
    served = []

    def serve(body):
        def urlopen(url, timeout=None):
            served.append(url)
            return io.BytesIO(body)
        monkeypatch.setattr(urllib.request, "urlopen", urlopen)

    serve(b"tampered " + data)
    with pytest.raises(DownloadError, match="expected sha256:"):
        ZPE().resolve_inputs(toy_inputs().dataset)
    assert served == [pinned.url] and b"ITAP" in cached.read_bytes()  # refused, not cached
    serve(data)
    assert ZPE().resolve_inputs(toy_inputs().dataset) == {"pool_sha256": pool_sha256(SYNTHETIC_POOL)}
    assert cached.read_bytes() == data and served == [pinned.url] * 2


def test_offline_reference_pool_error_names_the_url_and_the_cache_path(offline):
    cached = cache_path(REFERENCE_POOL)
    cached.parent.mkdir(parents=True)
    cached.write_text("_ZEROSHOT_TEMPLATES = {'a': ['a {}.']}\n")  # parses, but is not the pinned file
    for M in METHODS:
        with pytest.raises(DownloadError) as err:
            M().resolve_inputs(toy_inputs().dataset)
        message = str(err.value)
        assert REFERENCE_POOL.url in message and str(cached) in message and "templates_file" in message
    assert set(offline) == {REFERENCE_POOL.url}


def test_inputs_are_resolved_before_fit_and_hashed(tmp_path, offline):
    """resolve_inputs reads the files; fit uses what it read (the files may be gone by then); the
    identity is the content of the pool and the bank, whatever file they came from."""
    inputs = toy_inputs()
    a, b = tmp_path / "a.json", tmp_path / "b.txt"
    a.write_text(json.dumps({"x": ["a {}.", "the {}."], "y": ["{}"]}))
    b.write_text("a {}.\nthe {}.\n{}\n")
    bank = write_feature_bank(tmp_path / "bank.pt", F.normalize(torch.randn(8, 16), dim=-1), inputs.model)
    method = ZPE(ZPE.Config(templates_file=str(a), pretrain_bank=str(bank)))
    identity = method.resolve_inputs(inputs.dataset)
    assert identity == {"pool_sha256": pool_sha256(["a {}.", "the {}.", "{}"]), "pretrain_bank_sha256": file_sha256(bank)}
    json.dumps(identity)
    a.unlink()
    bank.unlink()
    method.fit(inputs)
    assert method.prompts == ["a {}.", "the {}.", "{}"] and method.extra_results["zpe_n_pretrain"] == 8
    assert method.extra_results["zpe_pool_sha256"] == identity["pool_sha256"]
    assert ZPEEqual(ZPEEqual.Config(templates_file=str(b))).resolve_inputs(inputs.dataset)["pool_sha256"] == identity["pool_sha256"]
    shipped = ZPE(ZPE.Config(pool="shipped"))
    shipped.fit(inputs)  # without resolve_inputs: resolved in fit
    assert shipped.extra_results["zpe_pool_sha256"] == pool_sha256(shipped_pool(inputs.dataset))
    assert ZPE(ZPE.Config(pool="dataset")).resolve_inputs(inputs.dataset) == {"pool_sha256": pool_sha256(["a {}.", "the {}."])}


def test_pool_order_does_not_change_the_weights_or_the_prediction(tmp_path):
    pool = [f"template {i} of a {{}}." for i in range(6)]
    order = [3, 0, 5, 1, 4, 2]
    fitted = []
    for templates in (pool, [pool[i] for i in order]):
        path = tmp_path / f"{len(fitted)}.json"
        path.write_text(json.dumps(templates))
        method = ZPESelect(ZPESelect.Config(templates_file=str(path), select_threshold="0.0"))
        method.fit(toy_inputs())
        fitted.append(method)
    first, second = fitted
    assert torch.allclose(first.prompt_weights[order], second.prompt_weights)
    assert sorted(order[i] for i in second.selected.tolist()) == first.selected.tolist()
    x = toy_inputs().image_features
    assert torch.allclose(first.logits_from_features(x), second.logits_from_features(x), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# bad input: a ConfigError naming the flag or file, before any model work
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, cls", [("zpe", ZPE), ("zpe-select", ZPESelect), ("zpe-equal", ZPEEqual)])
def test_bad_values_fail_when_the_config_is_built(name, cls):
    with pytest.raises(ConfigError, match=r"--set pool=nosuchpool .*reference, shipped, dataset"):
        build_config(name, cls.Config, {"pool": "nosuchpool"})
    assert build_config(name, cls.Config, {}).pool == "reference"
    if cls is ZPEEqual:
        return
    for key, value, problem in [("frac_test", "-1", "must be > 0"), ("frac_test", "1.5", "must be <= 1"),
                                ("debias", "foo", "not one of both, test, pretrain, none"),
                                ("debias", "pretrain", "needs --set pretrain_bank=PATH"),
                                ("num_pretrain", "0", "must be >= 1"), ("select_threshold", "high", "none, auto or a number")]:
        with pytest.raises(ConfigError, match=key if key != "debias" or value == "foo" else "pretrain_bank") as err:
            build_config(name, cls.Config, {key: value})
        assert problem in str(err.value), (key, value, str(err.value))


@pytest.mark.parametrize("content, problem", [
    (None, "no such file"),
    ("", "no templates"),
    ("\n  \n", "no templates"),
    ("[]", "no templates"),
    ('{"a": [], "b": []}', "no templates"),
    ('["no placeholder"]', "exactly one '{}'"),
    ('{"a": ["a {}.", "{} and {}"]}', "exactly one '{}'"),
    ("a {}.\nthe {0} {}.\n", "exactly one '{}'"),
    ('["a {}.", 3]', "expected a list"),
    ('"a {}."', "expected a list"),
])
def test_bad_templates_file_fails_in_resolve_inputs(tmp_path, content, problem):
    path = tmp_path / "nonexistent.txt" if content is None else tmp_path / "templates.json"
    if content is not None:
        path.write_text(content)
    for M in METHODS:
        config = build_config(M.name, M.Config, {"templates_file": str(path)})  # the flag itself is fine
        with pytest.raises(ConfigError, match=problem) as err:
            M(config).resolve_inputs(toy_inputs().dataset)  # the dataset only: no model, no features
        assert f"--set templates_file={path}" in str(err.value)


def test_nonexistent_templates_file_names_the_file_and_the_fix():
    with pytest.raises(ConfigError, match="templates_file=/nonexistent.txt: no such file; give a copy of multimodal_utils.py"):
        ZPE(build_config("zpe", ZPE.Config, {"templates_file": "/nonexistent.txt"})).resolve_inputs(toy_inputs().dataset)


def test_bad_pretrain_bank_fails_in_resolve_inputs(tmp_path):
    garbage, flat = tmp_path / "garbage.pt", tmp_path / "flat.pt"
    garbage.write_bytes(b"not a torch file")
    torch.save(torch.randn(16), flat)
    for path, problem in [(tmp_path / "missing.pt", "no such file"), (garbage, "cannot be read"), (flat, r"holds \[16\]")]:
        with pytest.raises(ConfigError, match=problem) as err:
            ZPE(ZPE.Config(pool="dataset", pretrain_bank=str(path))).resolve_inputs(toy_inputs().dataset)
        assert f"--set pretrain_bank={path}" in str(err.value) and "encoded by the evaluated model" in str(err.value)


# ---------------------------------------------------------------------------------------------
# MAD selection where the MAD is zero
# ---------------------------------------------------------------------------------------------

def reference_mad_method(data, threshold):
    """The notebook's mad_method (scipy's median_abs_deviation with its default scale 1 is the
    median of |data - median|), dividing as numpy does."""
    med = np.median(data)
    mad = np.abs(np.median(np.abs(data - med)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return [i for i, v in enumerate(data) if (v - med) / mad > threshold]


def test_zero_mad_keeps_the_prompts_strictly_above_the_median():
    for scores, threshold, want in [([1.0, 1.0, 1.0, 2.0, 3.0], 0.5, [3, 4]), ([0.0, 5.0, 5.0, 5.0, 5.0, 6.0], 2.0, [5]),
                                    ([2.0, 2.0, 1.0, 2.0], -1.0, [])]:
        assert reference_mad_method(np.array(scores), threshold) == want
        got = mad_select(torch.tensor(scores), threshold).tolist()
        assert got == (want or [int(np.argmax(scores))]), (scores, got)
    assert mad_select(torch.ones(4), 0.5).tolist() == [0]  # all tied: nothing passes, the best (first) is kept


def test_zero_mad_selection_in_fit(tmp_path):
    """Two prompts with the same text features tie at the median: the MAD is 0 and zpe-select keeps
    only the better-scoring third prompt (it used to keep all three)."""
    inputs, _, labels, directions, noise = informative_and_noise(tmp_path)
    for i, k in enumerate(inputs.classnames):
        inputs.text.table[f"also bad {k}"] = noise[i]
    path = tmp_path / "three.json"
    path.write_text(json.dumps(["bad {}", "also bad {}", "good {}"]))
    method = ZPESelect(ZPESelect.Config(templates_file=str(path)))
    method.fit(inputs)
    assert method.scores[0] == method.scores[1] < method.scores[2]
    assert method.selected.tolist() == [2] and method.extra_results["zpe_n_selected"] == 1
