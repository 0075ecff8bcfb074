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
passes (the reference would report 0 %), the best-scoring prompt is kept. A zero MAD (at least half
the scores tied at the median) is the reference's division by zero: ``+inf`` above the median,
``nan`` at it and ``-inf`` below, so exactly the prompts strictly above the median are kept (and the
best-scoring one if none is).

``zpe-equal`` is the baseline ZPE must be compared to: the equal-weight average of the same pool's
logits (the reference's "pool set, equal average"; unlike ``clip-e`` the class text features are
averaged without renormalising).

Pool (``pool``): ``reference`` (default) is the reference's 247-template pool: the union of the
lists of ``_ZEROSHOT_TEMPLATES`` in ``experimental/multimodal/multimodal_utils.py`` of
google/uncertainty-baselines at commit 163351d4 (the notebook's
``list(set(sum(_ZEROSHOT_TEMPLATES.values(), [])))``). The file is downloaded once into
``$ZSBENCH_CACHE/downloads/zpe/`` and checked against its sha256 (``zsbench.harness.core.downloads``; a
cached copy that does not match is downloaded again), and the dict is read with
``ast.literal_eval``: the file is never imported or executed. Offline, save the file at the path the
error names, or pass ``templates_file``. We keep the union in first-seen order where the notebook's
``set`` order is arbitrary; the order changes neither the weights, the selection nor the prediction
(only the order prompts are encoded and summed in). The pool holds the bare ``{}`` (the class name
alone, the reference's ``'none'`` list): it has its one placeholder and is weighted like any other
template. The pool does not depend on the dataset, so the toy domains use it too.

``shipped`` is the evaluated dataset's own templates and ensemble, OpenAI's 80 ImageNet templates
(from open_clip), CoOp's 7 select templates, and every per-dataset template and ensemble in
``zsbench.datasets.templates``, de-duplicated in that order (151 templates plus the dataset's own:
159 on the toy domains); ``dataset`` is the dataset's ensemble only. ``templates_file`` replaces
the pool with the templates of a file: a ``.py`` file holding a ``_ZEROSHOT_TEMPLATES = {...}``
literal (e.g. a local copy of ``multimodal_utils.py``), a JSON list, a JSON object of lists (their
union in order), or one template per line. Every template needs exactly one ``{}``.
:meth:`ZPE.resolve_inputs` reads and checks the pool (and ``pretrain_bank``) before any model work
and returns their content hashes (``pool_sha256``: the sha256 of the pool as a JSON list, whatever
file it came from); ``fit`` records it in the row as ``zpe_pool_sha256``.

ZPE is transductive: the weights use the features of every test image at once (the test mean and
the scores), so a result depends on the whole evaluated split (and on ``--limit``). Because every
step after the scores is linear in the image feature, the fitted method is a fixed linear head
``L = 100 x W'`` with ``W'_c = (1/P) sum_p w_p t[p, c]``, which the latency columns measure.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import torch

from zsbench.datasets import templates as shipped_templates
from zsbench.datasets.records import RECORDS
from zsbench.harness.core.atomic import atomic_write
from zsbench.harness.core.config import ConfigError, param
from zsbench.harness.core.downloads import PinnedFile, fetch
from zsbench.harness.core.hashing import file_sha256, json_sha256
from zsbench.harness.core.registry import register_method

from zsbench.methods.base import Method, MethodInputs, Need
from zsbench.methods.heads import linear_head

Debias = Literal["both", "test", "pretrain", "none"]  # the bias term removed before scoring (the reference's debias_mode)
Pool = Literal["reference", "shipped", "dataset"]  # the prompt pool (see the module docstring)
DEBIAS_MODES = get_args(Debias)
POOLS = get_args(Pool)
THRESHOLD_IMAGENET = 0.5
THRESHOLD_FINE = 2.0
_CHUNK_ELEMENTS = 1 << 24  # logits held at once while scoring (64 MiB of float32)

REFERENCE_COMMIT = "163351d4c92340a80e572bc376ec837d8e96399d"
REFERENCE_PATH = "experimental/multimodal/multimodal_utils.py"
TEMPLATES_NAME = "_ZEROSHOT_TEMPLATES"  # the dict in multimodal_utils.py whose lists' union is the pool
# The reference's pool file, as its public repository holds it at the commit the notebook uses
# (git blob 18e2b2096f9aa5d3cb7227fed9eb439fa09e7cc6, 69,327 bytes; 44 lists, 247 distinct templates).
REFERENCE_POOL = PinnedFile(
    url=f"https://raw.githubusercontent.com/google/uncertainty-baselines/{REFERENCE_COMMIT}/{REFERENCE_PATH}",
    checksum="sha256:48846070233db0edce4b61c55642ee7e3aa1fb86aa9d076e184068322561430e",
    cache_name=f"zpe/uncertainty-baselines-{REFERENCE_COMMIT[:8]}-multimodal_utils.py",
)
TEMPLATES_FILE_FORMATS = ("a copy of multimodal_utils.py (its _ZEROSHOT_TEMPLATES dict), a JSON list of templates, "
                          "a JSON object of lists, or a text file with one template per line")


class TemplatesError(ConfigError):
    """A prompt pool that cannot be read or holds no valid templates; the message names the file
    (or pool) and what to pass instead."""


# ---------------------------------------------------------------------------------------------
# Prompt selection
# ---------------------------------------------------------------------------------------------

def mad_select(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Indices of prompts with ``(s - median) / MAD > threshold`` (the reference's ``mad_method``,
    with the median of an even count as the mean of the middle two, like numpy). A zero MAD divides
    as numpy does (``+inf`` above the median, ``nan`` at it, ``-inf`` below), so only the prompts
    strictly above the median pass. If none passes, the best-scoring prompt is kept (our fallback;
    the reference would average no prompts)."""
    s = scores.double()
    med = _median(s)
    mad = _median((s - med).abs())
    keep = torch.nonzero((s - med) / mad > threshold).flatten()  # IEEE division, as the reference's
    return keep if len(keep) else s.argmax().reshape(1)


def _median(x: torch.Tensor) -> torch.Tensor:
    ordered = x.sort().values
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


# ---------------------------------------------------------------------------------------------
# The scores on features and text embeddings, without materialising the logits [N, P, C]
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


# ---------------------------------------------------------------------------------------------
# Prompt pools
# ---------------------------------------------------------------------------------------------

def python_templates(source: str, where: str) -> dict:
    """The literal assigned to ``_ZEROSHOT_TEMPLATES`` at the top level of Python ``source`` (the
    last such assignment, as an import would leave it), read with ``ast.literal_eval``: the file is
    never imported or executed, so a downloaded file cannot run code."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise TemplatesError(f"{where}: not valid Python ({err.msg}, line {err.lineno}); give {TEMPLATES_FILE_FORMATS}") from None
    value = None
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == TEMPLATES_NAME for t in targets):
            value = node.value
    if value is None:
        raise TemplatesError(f"{where}: no top-level `{TEMPLATES_NAME} = {{...}}` assignment (the dict of "
                             f"google/uncertainty-baselines' {REFERENCE_PATH}); give {TEMPLATES_FILE_FORMATS}")
    try:
        return ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise TemplatesError(f"{where}: {TEMPLATES_NAME} (line {value.lineno}) is not a plain literal "
                             "{key: [template, ...]}") from None


def template_union(data, where: str) -> list[str]:
    """A list of templates as given, or a dict's lists' union in first-seen order (the reference's
    pool is the union of ``_ZEROSHOT_TEMPLATES``' lists); a dict value that is one string is one
    template."""
    if isinstance(data, dict):
        groups = [group if isinstance(group, (list, tuple)) else [group] for group in data.values()]
        data = [t for group in groups for t in group]
    if not isinstance(data, (list, tuple)) or not all(isinstance(t, str) for t in data):
        raise TemplatesError(f"{where}: expected a list of template strings or an object of such lists; "
                             f"give {TEMPLATES_FILE_FORMATS}")
    return _dedup(data)


def load_templates(path: str | Path, where: str | None = None) -> list[str]:
    """The checked, de-duplicated templates of a file: a ``.py`` file's ``_ZEROSHOT_TEMPLATES``
    literal, a JSON list, a JSON object of lists (their union, in order), or a text file with one
    template per line. ``where`` names the file in errors (default: the ``templates_file`` flag)."""
    path = Path(path).expanduser()
    where = where or f"--set templates_file={path}"
    if not path.is_file():
        raise TemplatesError(f"{where}: no such file; give {TEMPLATES_FILE_FORMATS}, or drop templates_file to use "
                             f"--set pool={'|'.join(POOLS)}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise TemplatesError(f"{where}: cannot be read as UTF-8 text ({err}); give {TEMPLATES_FILE_FORMATS}") from None
    if path.suffix == ".py":
        data = python_templates(text, where)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = [line.strip() for line in text.splitlines() if line.strip()]
    return _checked(template_union(data, where), where)


def _dedup(items) -> list[str]:
    return list(dict.fromkeys(items))


def is_template(template: str) -> bool:
    """Exactly one ``{}``, and ``str.format`` puts the class name there once (as the reference
    formats them); the bare ``"{}"`` (the class name alone) is one."""
    if not isinstance(template, str) or template.count("{}") != 1:
        return False
    try:
        return template.format("\0").count("\0") == 1
    except (IndexError, KeyError, ValueError):
        return False


def _checked(templates: list[str], where: str) -> list[str]:
    if not templates:
        raise TemplatesError(f"{where}: no templates; give {TEMPLATES_FILE_FORMATS}")
    bad = [t for t in templates if not is_template(t)]
    if bad:
        raise TemplatesError(f"{where}: templates need exactly one '{{}}' for the class name; {len(bad)} of "
                             f"{len(templates)} do not: {bad[:3]} (fix or remove them)")
    return templates


def shipped_pool(dataset) -> list[str]:
    """Every template list we ship, the evaluated dataset's own first, de-duplicated."""
    pool = list(dataset.ensemble_templates) + list(dataset.templates)
    pool += list(shipped_templates.openai_imagenet_templates()) + list(shipped_templates.IMAGENET_TEMPLATES_SELECT)
    for record in RECORDS.values():  # the published ensembles, in catalogue order
        if isinstance(record.ensemble, tuple):
            pool += list(record.ensemble)
    pool += [record.template for record in RECORDS.values()]
    return _checked(_dedup(pool), "shipped pool")


def reference_pool(cache_dir: Path | str | None = None) -> list[str]:
    """The reference's 247-template pool: ``REFERENCE_POOL`` fetched into the cache (checksum
    verified; offline, the error names the URL and the path to save it at), its
    ``_ZEROSHOT_TEMPLATES`` lists' union."""
    path = fetch(REFERENCE_POOL, cache_dir, alternative=f"or pass --set templates_file=PATH to {TEMPLATES_FILE_FORMATS}")
    return load_templates(path, f"the reference pool {path} (from {REFERENCE_POOL.url})")


def pool_sha256(templates: list[str]) -> str:
    """The content identity of a pool: the sha256 of its templates as a JSON list, in order."""
    return json_sha256(list(templates))


# ---------------------------------------------------------------------------------------------
# Pretraining-like feature banks
# ---------------------------------------------------------------------------------------------

def read_feature_bank(path: str | Path) -> tuple[torch.Tensor, str | None]:
    """(``[M, D]`` features, the model it names or None) of a bank file: a torch file holding a
    tensor or ``{"features": tensor, "model": identity}``, or a ``.npy`` array. Any problem is an
    error naming the ``pretrain_bank`` flag."""
    path = Path(path).expanduser()
    where = f"--set pretrain_bank={path}"
    what = "an [M, D] feature tensor of unlabelled images encoded by the evaluated model (see zpe.write_feature_bank)"
    if not path.is_file():
        raise ConfigError(f"{where}: no such file; give {what}")
    try:
        if path.suffix == ".npy":
            import numpy as np

            feats, model = torch.from_numpy(np.load(path, allow_pickle=False)), None
        else:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            feats, model = (payload.get("features"), payload.get("model")) if isinstance(payload, dict) else (payload, None)
    except Exception as err:  # any unreadable file: torch and numpy raise many kinds
        raise ConfigError(f"{where}: cannot be read ({type(err).__name__}: {err}); give {what}") from None
    if not isinstance(feats, torch.Tensor) or feats.ndim != 2 or feats.shape[0] == 0 or not feats.is_floating_point():
        shape = list(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
        raise ConfigError(f"{where} holds {shape}, not {what}")
    return feats, model


def load_feature_bank(path: str | Path, loaded=None, limit: int | None = None) -> torch.Tensor:
    """[M, D] L2-normalised features of a pretraining-like image set (first ``limit`` rows). A bank
    that names its model must name the loaded one."""
    return _bank_for(*read_feature_bank(path), path, loaded, limit)


def _bank_for(feats: torch.Tensor, model: str | None, path, loaded, limit: int | None) -> torch.Tensor:
    if loaded is not None and model is not None and model not in (loaded.identity, loaded.name):
        raise ConfigError(f"--set pretrain_bank={path} was encoded by {model!r}, not by the evaluated model "
                          f"{loaded.identity!r}; encode the bank with the evaluated model")
    feats = feats.float()[:limit] if limit else feats.float()
    return torch.nn.functional.normalize(feats, dim=-1)


def write_feature_bank(path: str | Path, features: torch.Tensor, loaded) -> Path:
    """Save features of an unlabelled image set (e.g. ``inputs.encode_images(split)``) as a bank."""
    path = Path(path)
    with atomic_write(path) as f:
        torch.save({"features": features.float().cpu(), "model": loaded.identity}, f)
    return path


# ---------------------------------------------------------------------------------------------
# The methods
# ---------------------------------------------------------------------------------------------

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
    return dataset.family == "imagenet"


@dataclass
class ResolvedInputs:
    """What :meth:`ZPE.resolve_inputs` read for one dataset: the pool, the bank, their identity."""

    templates: list[str]
    bank: tuple[torch.Tensor, str | None] | None
    identity: dict


@register_method("zpe")
class ZPE(Method):
    """Score-weighted average of the pool's logits (the reference's 'ZPE (weighted average)')."""

    name = "zpe"
    needs = frozenset({Need.IMAGE_FEATURES})
    uses_seed = False
    weighting = "softmax_scores"

    @dataclass
    class Config:
        pool: Pool = "reference"
        templates_file: str | None = None
        debias: Debias = "both"
        pretrain_bank: str | None = None
        num_pretrain: int = param(20000, ge=1)
        frac_test: float = param(1.0, gt=0, le=1)
        select_threshold: str = "none"
        logit_scale: float = param(100.0, gt=0)

        def __post_init__(self):
            _check_threshold(self.select_threshold)
            if self.debias == "pretrain" and not self.pretrain_bank:
                raise ConfigError("--set debias=pretrain needs --set pretrain_bank=PATH (features of unlabelled images "
                                  "encoded by the evaluated model); or use debias=both, which falls back to test without one")

    def __init__(self, config=None):
        super().__init__(config)
        self._resolved: dict[str, ResolvedInputs] = {}

    def resolve_inputs(self, dataset) -> dict:
        """Read and check the pool (fetching the reference's) and the pretraining bank before any
        model work; ``fit`` uses what was read here. Returns ``{"pool_sha256": ...}`` (and
        ``pretrain_bank_sha256`` with a bank)."""
        return self._resolve(dataset).identity

    def _resolve(self, dataset) -> ResolvedInputs:
        if dataset.name not in self._resolved:
            templates = self._read_pool(dataset)
            identity = {"pool_sha256": pool_sha256(templates)}
            bank = None
            bank_path = getattr(self.config, "pretrain_bank", None)
            if bank_path:
                bank = read_feature_bank(bank_path)
                identity["pretrain_bank_sha256"] = file_sha256(Path(bank_path).expanduser())
            self._resolved[dataset.name] = ResolvedInputs(templates, bank, identity)
        return self._resolved[dataset.name]

    def _read_pool(self, dataset) -> list[str]:
        if self.config.templates_file:
            return load_templates(self.config.templates_file)
        if self.config.pool == "reference":
            return reference_pool()
        if self.config.pool == "shipped":
            return shipped_pool(dataset)
        if self.config.pool == "dataset":
            return _checked(_dedup(dataset.ensemble_templates), f"{dataset.name} ensemble")
        raise ConfigError(f"--set pool={self.config.pool}: choose one of {', '.join(POOLS)} (or set templates_file=PATH)")

    def templates(self, inputs: MethodInputs) -> list[str]:
        return self._resolve(inputs.dataset).templates

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
        resolved = self._resolve(inputs.dataset)  # read here if the runner did not call resolve_inputs
        self.prompts = resolved.templates
        text = self.text_embeddings(inputs, self.prompts)
        p = len(self.prompts)
        if self.weighting == "equal":
            self.prompt_weights = torch.ones(p)
            self.selected = torch.arange(p)
            self.extra_results = {"zpe_n_prompts": p}
        else:
            self._fit_weights(inputs, text, resolved.bank)
        self.extra_results["zpe_pool_sha256"] = resolved.identity["pool_sha256"]
        sel = self.selected
        self.classifier = (self.prompt_weights[sel, None, None] * text[sel]).mean(0)  # [C, D]

    def _fit_weights(self, inputs: MethodInputs, text: torch.Tensor, bank_file) -> None:
        cfg = self.config
        dev = getattr(inputs.model, "device", None) or inputs.image_features.device
        features = inputs.image_features.to(dev)
        text = text.to(dev)
        debias = cfg.debias
        bank = None
        if debias in ("both", "pretrain"):
            if bank_file is not None:
                bank = _bank_for(*bank_file, cfg.pretrain_bank, inputs.model, cfg.num_pretrain).to(dev)
                if bank.shape[1] != features.shape[1]:
                    raise ConfigError(f"--set pretrain_bank={cfg.pretrain_bank} has {bank.shape[1]}-d features; the "
                                      f"evaluated model's are {features.shape[1]}-d (encode the bank with this model)")
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
        self.extra_results = {"zpe_debias": debias, "zpe_n_prompts": len(self.scores),
                              "zpe_n_selected": len(self.selected), "zpe_threshold": threshold,
                              "zpe_n_pretrain": 0 if bank is None else int(bank.shape[0])}

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        return linear_head(features, self.classifier, self.config.logit_scale)


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
        pool: Pool = "reference"
        templates_file: str | None = None
        logit_scale: float = param(100.0, gt=0)
