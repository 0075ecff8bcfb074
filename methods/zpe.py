"""ZPE: zero-shot prompt ensembling with per-prompt weights from unlabelled images (Allingham et al.,
ICML 2023; reference: google/uncertainty-baselines, experimental/multimodal, the notebook
"Zero-shot prompt ensembling for text-image models results": ``get_logits``, ``get_weights``,
``agg_logits``, ``mad_method``).

For a pool of P prompt templates, ``l[i, p, c] = 100 cos(x_i, t[p, c])``. Each prompt is scored by
how confident its logits are once the prompt's own bias is removed:

    l~ = l - 1/2 (mean over a pretraining-like image set of l[., p, c] + mean over the test images of l[., p, c])
    s_p = mean_i max_c l~[i, p, c],     w = softmax_p(s_p),     L[i, c] = (1/P) sum_p w_p l[i, p, c]

``debias`` selects the bias term as the reference's ``debias_mode``: ``both`` (above), ``test``
(test mean only), ``pretrain`` (pretraining-set mean only) or ``none``. The pretraining-like set is
an image-feature bank the user points to (``pretrain_bank``: any unlabelled images encoded by the
same model, e.g. the reference's 20k LAION images; first ``num_pretrain`` rows used). Without a
bank ``both`` falls back to ``test`` and the row records the mode used (``zpe_debias``);
``pretrain`` without a bank is an error. (The reference's ``pretrain_star``, a class-agnostic
pretraining mean over all datasets' class names, is not implemented.)

``zpe-select`` is the reference's prompt-selection variant: keep prompts whose robust z-score
``(s_p - median(s)) / MAD(s)`` exceeds ``t`` (MAD unscaled, as ``scipy.stats.median_abs_deviation``;
``t = 0.5`` for the ImageNet family and the toy domains that mirror it, ``2.0`` for fine-grained
sets), then average the kept prompts' logits with the softmax weights of the whole pool (the
reference's normalisation; the prediction equals renormalising over the kept ones). If no prompt
passes (the reference would report 0 %), the best-scoring prompt is kept; a zero MAD keeps all.

``zpe-equal`` is the baseline ZPE must be compared to: the equal-weight average of the same pool's
logits (the reference's "pool set, equal average"; unlike ``clip-e`` the class text features are
averaged without renormalising).

Pool (``pool``): ``shipped`` = the evaluated dataset's own templates and ensemble, OpenAI's 80
ImageNet templates (from open_clip), CoOp's 7 select templates, and every per-dataset template and
ensemble in ``zsbench.datasets.templates``, de-duplicated in that order; ``dataset`` = the dataset's
ensemble only. ``templates_file`` replaces the pool with templates loaded from a file (a JSON list,
a JSON object of lists, or one template per line).

ZPE is transductive: the weights use the features of every test image at once (the test mean and
the scores), so a result depends on the whole evaluated split (and on ``--limit``). Because every
step after the scores is linear in the image feature, the fitted method is a fixed linear head
``L = 100 x W'`` with ``W'_c = (1/P) sum_p w_p t[p, c]``, which the latency columns measure.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from zsbench.datasets import templates as shipped_templates
from zsbench.harness.config import ConfigError, param
from zsbench.harness.registry import register_method

from .base import Method, MethodInputs, Need

DEBIAS_MODES = ("both", "test", "pretrain", "none")
POOLS = ("shipped", "dataset")
THRESHOLD_IMAGENET = 0.5
THRESHOLD_FINE = 2.0
TOY_IMAGENET_LIKE = ("toy",)  # the toy domain whose shifted copies mirror the ImageNet variants
_CHUNK_ELEMENTS = 1 << 24  # logits held at once while scoring (64 MiB of float32)


# ---------------------------------------------------------------------------------------------
# The formulas on explicit logits [N, P, C] (the reference's shapes), for tests and small inputs
# ---------------------------------------------------------------------------------------------

def debiased(logits: torch.Tensor, pretrain_logits: torch.Tensor | None, debias: str, frac_test: float = 1.0) -> torch.Tensor:
    """The reference's ``normalised`` logits for ``debias`` (``get_weights``)."""
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


def mad_select(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Indices of prompts with ``(s - median) / MAD > threshold`` (the reference's ``mad_method``,
    with the median of an even count as the mean of the middle two, like numpy). A zero MAD keeps
    every prompt; if none passes, the best-scoring prompt is kept."""
    s = scores.double()
    med = _median(s)
    mad = _median((s - med).abs())
    if mad == 0:
        return torch.arange(len(s))
    keep = torch.nonzero((s - med) / mad > threshold).flatten()
    return keep if len(keep) else s.argmax().reshape(1)


def _median(x: torch.Tensor) -> torch.Tensor:
    ordered = x.sort().values
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


# ---------------------------------------------------------------------------------------------
# The same on features and text embeddings, without materialising [N, P, C]
# ---------------------------------------------------------------------------------------------

def mean_logits(mean_feature: torch.Tensor, text: torch.Tensor, scale: float) -> torch.Tensor:
    """[P, C] mean over images of ``l[i, p, c]``: linear in x, so the logits of the mean feature."""
    return scale * torch.einsum("d,pcd->pc", mean_feature, text)


def prompt_scores(features: torch.Tensor, text: torch.Tensor, bias: torch.Tensor | None, scale: float) -> torch.Tensor:
    """[P] ``mean_i max_c (l[i, p, c] - bias[p, c])``, in chunks of images."""
    n = features.shape[0]
    p, c, _ = text.shape
    step = max(1, _CHUNK_ELEMENTS // max(1, p * c))
    total = torch.zeros(p, dtype=torch.float64, device=features.device)
    for start in range(0, n, step):
        l = scale * torch.einsum("nd,pcd->npc", features[start:start + step], text)
        if bias is not None:
            l = l - bias
        total += l.max(-1).values.double().sum(0)
    return (total / n).float()


def load_templates(path: str | Path) -> list[str]:
    """Templates from a JSON list, a JSON object of lists (their union, in order), or a text file
    with one template per line."""
    text = Path(path).read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = [line.strip() for line in text.splitlines() if line.strip()]
    if isinstance(data, dict):
        data = [t for group in data.values() for t in (group if isinstance(group, list) else [group])]
    if not isinstance(data, list) or not all(isinstance(t, str) for t in data):
        raise ValueError(f"templates file {path}: expected a JSON list of strings, a JSON object of lists, or lines")
    return _checked(_dedup(data), str(path))


def _dedup(items) -> list[str]:
    return list(dict.fromkeys(items))


def _checked(templates: list[str], where: str) -> list[str]:
    bad = [t for t in templates if t.count("{}") != 1]
    if bad:
        raise ValueError(f"{where}: templates need exactly one '{{}}' for the class name; bad: {bad[:3]}")
    if not templates:
        raise ValueError(f"{where}: no templates")
    return templates


def shipped_pool(dataset) -> list[str]:
    """Every template list we ship, the evaluated dataset's own first, de-duplicated."""
    pool = list(dataset.ensemble_templates) + list(dataset.templates)
    pool += list(shipped_templates.openai_imagenet_templates()) + list(shipped_templates.IMAGENET_TEMPLATES_SELECT)
    for group in shipped_templates.ENSEMBLES.values():
        pool += list(group)
    pool += list(shipped_templates.ZERO_SHOT_TEMPLATE.values())
    return _checked(_dedup(pool), "shipped pool")


def load_feature_bank(path: str | Path, loaded=None, limit: int | None = None) -> torch.Tensor:
    """[M, D] L2-normalised features of a pretraining-like image set: a torch file holding a tensor
    or ``{"features": tensor, "model": identity}``, or a ``.npy`` array. A bank that names its model
    must name the loaded one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrain_bank={path}: no such file (an [M, D] feature tensor of unlabelled images "
                                "encoded by the evaluated model; see zpe.write_feature_bank)")
    if path.suffix == ".npy":
        import numpy as np

        feats, model = torch.from_numpy(np.load(path)), None
    else:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        feats, model = (payload["features"], payload.get("model")) if isinstance(payload, dict) else (payload, None)
    if loaded is not None and model is not None and model not in (loaded.identity, loaded.name):
        raise ValueError(f"pretrain_bank={path} was encoded by {model!r}, not by the evaluated model {loaded.identity!r}")
    feats = feats.float()[:limit] if limit else feats.float()
    return torch.nn.functional.normalize(feats, dim=-1)


def write_feature_bank(path: str | Path, features: torch.Tensor, loaded) -> Path:
    """Save features of an unlabelled image set (e.g. ``inputs.encode_images(split)``) as a bank."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"features": features.float().cpu(), "model": loaded.identity}, path)
    return path


def _check_threshold(text: str) -> None:
    value = str(text).strip().lower()
    if value in ("none", "na", "", "auto"):
        return
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"--set select_threshold={text} (method 'zpe'): give none, auto or a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ConfigError(f"--set select_threshold={text} (method 'zpe'): must be a finite number")


def imagenet_like(dataset) -> bool:
    return (dataset.name in shipped_templates.IMAGENET_FAMILY or dataset.name in TOY_IMAGENET_LIKE
            or dataset.fewshot_from in ("imagenet", *TOY_IMAGENET_LIKE))


@register_method("zpe")
class ZPE(Method):
    """Score-weighted average of the pool's logits (the reference's 'ZPE (weighted average)')."""

    name = "zpe"
    needs = frozenset({Need.IMAGE_FEATURES})
    uses_seed = False
    weighting = "softmax_scores"

    @dataclass
    class Config:
        pool: str = param("shipped", choices=POOLS)
        templates_file: str | None = None
        debias: str = param("both", choices=DEBIAS_MODES)
        pretrain_bank: str | None = None
        num_pretrain: int = param(20000, ge=1)
        frac_test: float = param(1.0, gt=0, le=1)
        select_threshold: str = "none"
        logit_scale: float = param(100.0, gt=0)

        def __post_init__(self):
            _check_threshold(self.select_threshold)

    def templates(self, inputs: MethodInputs) -> list[str]:
        if self.config.templates_file:
            return load_templates(self.config.templates_file)
        if self.config.pool == "shipped":
            return shipped_pool(inputs.dataset)
        if self.config.pool == "dataset":
            return _checked(_dedup(inputs.dataset.ensemble_templates), f"{inputs.dataset.name} ensemble")
        raise ValueError(f"--set pool={self.config.pool!r}: choose shipped or dataset (or set templates_file=PATH)")

    def text_embeddings(self, inputs: MethodInputs, templates: list[str]) -> torch.Tensor:
        """[P, C, D] normalised text features of every (template, class)."""
        classes = inputs.classnames
        feats = inputs.text.encode([t.format(c) for t in templates for c in classes])
        return feats.view(len(templates), len(classes), -1)

    def threshold(self, dataset) -> float | None:
        text = str(self.config.select_threshold).strip().lower()
        if text in ("none", "na", ""):
            return None
        if text == "auto":
            return THRESHOLD_IMAGENET if imagenet_like(dataset) else THRESHOLD_FINE
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"--set select_threshold={self.config.select_threshold!r}: none, auto or a number") from None

    def fit(self, inputs: MethodInputs) -> None:
        self.prompts = self.templates(inputs)
        text = self.text_embeddings(inputs, self.prompts)
        p = len(self.prompts)
        if self.weighting == "equal":
            self.prompt_weights = torch.ones(p)
            self.selected = torch.arange(p)
            self.extra_results = {"zpe_n_prompts": p}
        else:
            self._fit_weights(inputs, text)
        sel = self.selected
        self.classifier = (self.prompt_weights[sel, None, None] * text[sel]).mean(0)  # [C, D]

    def _fit_weights(self, inputs: MethodInputs, text: torch.Tensor) -> None:
        cfg = self.config
        if cfg.debias not in DEBIAS_MODES:
            raise ValueError(f"--set debias={cfg.debias!r}: choose one of {', '.join(DEBIAS_MODES)}")
        dev = getattr(inputs.model, "device", None) or inputs.image_features.device
        features = inputs.image_features.to(dev)
        text = text.to(dev)
        debias = cfg.debias
        bank = None
        if debias in ("both", "pretrain"):
            if cfg.pretrain_bank:
                bank = load_feature_bank(cfg.pretrain_bank, inputs.model, cfg.num_pretrain).to(dev)
                if bank.shape[1] != features.shape[1]:
                    raise ValueError(f"pretrain_bank has {bank.shape[1]}-d features; the model's are {features.shape[1]}-d")
            elif debias == "pretrain":
                raise ValueError("--set debias=pretrain needs --set pretrain_bank=PATH (features of unlabelled images "
                                 "encoded by the evaluated model)")
            else:
                debias = "test"  # no pretraining-like set: the test mean alone, recorded in the row
        n_test = round(features.shape[0] * cfg.frac_test)
        test_bias = mean_logits(features[:n_test].mean(0), text, cfg.logit_scale) if debias in ("both", "test") else None
        pre_bias = mean_logits(bank.mean(0), text, cfg.logit_scale) if bank is not None else None
        bias = {"both": lambda: 0.5 * (pre_bias + test_bias), "test": lambda: test_bias,
                "pretrain": lambda: pre_bias, "none": lambda: None}[debias]()
        self.scores = prompt_scores(features, text, bias, cfg.logit_scale).cpu()
        self.prompt_weights = torch.softmax(self.scores, 0)
        threshold = self.threshold(inputs.dataset)
        self.selected = torch.arange(len(self.scores)) if threshold is None else mad_select(self.scores, threshold)
        self.debias_used = debias
        self.extra_results = {"zpe_debias": debias, "zpe_n_prompts": len(self.scores),
                              "zpe_n_selected": len(self.selected), "zpe_threshold": threshold,
                              "zpe_n_pretrain": 0 if bank is None else int(bank.shape[0])}

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.config.logit_scale * features @ self.classifier.to(features.device, features.dtype).T


@register_method("zpe-select")
class ZPESelect(ZPE):
    """ZPE with the reference's MAD prompt selection (threshold 0.5 ImageNet-like, 2.0 fine-grained)."""

    name = "zpe-select"

    @dataclass
    class Config(ZPE.Config):
        select_threshold: str = "auto"


@register_method("zpe-equal")
class ZPEEqual(ZPE):
    """The equal-weight average of the same pool's logits: the baseline ZPE is compared to."""

    name = "zpe-equal"
    weighting = "equal"

    @dataclass
    class Config:
        pool: str = param("shipped", choices=POOLS)
        templates_file: str | None = None
        logit_scale: float = param(100.0, gt=0)
