"""One evaluation run: datasets -> features (cached) -> method -> logits -> metrics -> results.

The runner resolves every name and loads every dataset before any model work (so a missing
dataset or a bad flag fails in seconds), skips evaluations already in the results store unless
forced, writes each finished evaluation to the run's Parquet file at once (an interrupted run
keeps what it finished), and regenerates the leaderboard at the end.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from zsbench.datasets.fewshot import fewshot_subset
from zsbench.methods.base import FewShotData, Method, MethodInputs, Need

from . import environment
from .errors import UserError
from .config import build_config, config_hash, config_json, split_overrides
from .feature_cache import FeatureCache
from .image_features import image_features
from .latency import Latency, measure
from .leaderboard import write_leaderboard
from .metrics import classification_metrics
from .models import DEFAULT_MODEL, DEFAULT_PRETRAINED, load_model
from .registry import DATASETS, METHODS, SUITES
from .results_store import RunWriter, completed_keys
from .text_encoding import TextEncoder

DEFAULT_SEEDS = (1, 2, 3)


class RunError(UserError, ValueError):
    """A run that cannot start as asked; the message names the flag and the fix."""


@dataclass
class RunSpec:
    methods: list[str]
    datasets: list[str] = field(default_factory=list)
    suite: str | None = None
    model: str | None = None
    pretrained: str | None = None
    shots: int = 0
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    device: str = "auto"
    precision: str = "fp32"
    batch_size: int = 128
    limit: int | None = None
    overrides: list[str] = field(default_factory=list)
    results_dir: Path = Path("results")
    force: bool = False
    data_root: Path | None = None
    workers: int = 0
    latency_images: int = 64
    leaderboard: Path | None = None
    cache_dir: Path | None = None


def default_leaderboard_path(results_dir: Path) -> Path:
    """``results/`` -> ``leaderboard.md`` beside it; any other results dir gets its own file inside."""
    results_dir = Path(results_dir)
    return results_dir.parent / "leaderboard.md" if results_dir.name == "results" else results_dir / "leaderboard.md"


def limited(split, limit: int | None):
    """A fixed pseudo-random subset of ``limit`` images (the same for every method and run)."""
    if limit is None or limit >= len(split):
        return split
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(0))[:limit].sort().values
    return split.subset(order.tolist())


def restrict_to_classes(split, features, class_subset, n_classes: int):
    """Base-to-new evaluation: a method that sets ``class_subset`` (evaluated labels, in order) is
    scored on the test images of those classes only, relabelled 0..len-1 in that order, and
    returns logits over just those classes. Returns (split, features, n_classes)."""
    if class_subset is None:
        return split, features, n_classes
    lookup = torch.full((n_classes,), -1, dtype=torch.long)
    lookup[torch.as_tensor(list(class_subset), dtype=torch.long)] = torch.arange(len(class_subset))
    keep = (lookup[split.labels] >= 0).nonzero().flatten()
    sub = split.subset(keep.tolist())
    sub.labels = lookup[sub.labels]
    return sub, (features[keep] if features is not None else None), len(class_subset)


def resolve_datasets(spec: RunSpec) -> list[str]:
    if spec.suite and spec.datasets:
        raise RunError("give either --suite or --dataset, not both")
    if spec.suite:
        return list(SUITES.get(spec.suite).datasets)
    if not spec.datasets:
        raise RunError("nothing to evaluate: give --suite S or --dataset D[,D...]")
    for name in spec.datasets:
        DATASETS.get(name)
    return list(dict.fromkeys(spec.datasets))  # each dataset once, in the order given


@dataclass
class Evaluation:
    """One finished (method, dataset, seed) evaluation; ``row`` is what the results store holds."""

    row: dict
    skipped: bool = False


class Runner:
    def __init__(self, spec: RunSpec, reporter=None):
        self.spec = spec
        self.reporter = reporter
        self.cache = FeatureCache(spec.cache_dir)
        self._sources: dict = {}  # datasets few-shot shots are drawn from (built once per run)

    def _log(self, message: str) -> None:
        if self.reporter is not None:
            self.reporter.log(message)

    def run(self) -> list[Evaluation]:
        spec = self.spec
        method_classes: dict[str, type[Method]] = {m: METHODS.get(m) for m in spec.methods}
        routed = split_overrides(spec.methods, {m: c.Config for m, c in method_classes.items()}, spec.overrides)
        configs = {m: build_config(m, method_classes[m].Config, routed[m]) for m in spec.methods}
        for m, cls in method_classes.items():
            if Need.FEWSHOT in cls.needs and spec.shots <= 0:
                raise RunError(f"method {m!r} is few-shot: give --shots K (e.g. --shots 16)")
        datasets = [DATASETS.get(name)(spec.data_root) for name in resolve_datasets(spec)]

        defaults = {d.default_model for d in datasets}
        model_name = spec.model or (defaults.pop() if len(defaults) == 1 and None not in defaults else DEFAULT_MODEL)
        pretrained = spec.pretrained if spec.pretrained is not None else (DEFAULT_PRETRAINED if model_name == DEFAULT_MODEL else None)
        loaded = load_model(model_name, pretrained, spec.device, spec.precision)
        text = TextEncoder(loaded, self.cache, progress=self.reporter)
        done = set() if spec.force else completed_keys(spec.results_dir)
        writer = RunWriter(spec.results_dir)
        context = {
            "model": loaded.name, "pretrained": loaded.pretrained, "device": loaded.device.type,
            "device_name": environment.device_name(loaded.device), "precision": spec.precision,
            "batch_size": spec.batch_size, "limit": spec.limit, "suite": spec.suite or "", **environment.versions(),
        }
        evaluations = []
        for dataset in datasets:
            split = limited(dataset.split(dataset.test_split), spec.limit)
            features = None
            for m, cls in method_classes.items():
                shots = spec.shots if Need.FEWSHOT in cls.needs else 0
                seeds = spec.seeds if (cls.uses_seed or shots) else (0,)
                for seed in seeds:
                    key = (m, loaded.name, loaded.pretrained, dataset.name, dataset.test_split, seed, shots,
                           config_hash(m, configs[m]))
                    if key + (spec.limit,) in done:
                        self._log(f"skip {m} on {dataset.name} (seed {seed}): already in {spec.results_dir} (use --force)")
                        evaluations.append(Evaluation(dict(zip(("method", "model", "pretrained", "dataset", "split", "seed", "shots", "config_hash"), key)), skipped=True))
                        continue
                    if Need.IMAGE_FEATURES in cls.needs and features is None:
                        features = image_features(loaded, dataset.name, split, self.cache, spec.batch_size, spec.workers, progress=self.reporter)
                    row = self._evaluate(cls(configs[m]), dataset, split, features, loaded, text, seed, shots)
                    row.update(context, method=m, config_hash=key[-1], config_json=config_json(configs[m]))
                    writer.append(row)
                    evaluations.append(Evaluation(row))
                    self._log(f"{m} on {dataset.name} (seed {seed}): top-1 {row['acc1']:.2f} %, {row['latency_ms_per_image']:.2f} ms/image")
        write_leaderboard(spec.results_dir, spec.leaderboard or default_leaderboard_path(spec.results_dir))
        return evaluations

    def _evaluate(self, method: Method, dataset, split, features, loaded, text, seed: int, shots: int) -> dict:
        start = time.perf_counter()
        torch.manual_seed(seed)
        inputs = MethodInputs(dataset=dataset, model=loaded, text=text, seed=seed, shots=shots, image_features=features,
                              encode_images=functools.partial(self._encode, loaded))
        if Need.IMAGES in method.needs:
            inputs.images = split
        if Need.DESCRIPTIONS in method.needs:
            inputs.descriptions = method.load_descriptions(dataset) if hasattr(method, "load_descriptions") else dataset.descriptions()
        if Need.FEWSHOT in method.needs:
            inputs.fewshot = self._fewshot(dataset, shots, seed)
        setup_start = time.perf_counter()
        with torch.no_grad():
            method.fit(inputs)
        setup_seconds = time.perf_counter() - setup_start
        split, features, n_classes = restrict_to_classes(split, features, getattr(method, "class_subset", None), dataset.n_classes)
        with torch.no_grad():
            if Need.IMAGE_FEATURES in method.needs:
                logits = method.logits_from_features(features)
            else:
                logits = method.logits_from_images(split, inputs)
        metrics = classification_metrics(logits, split.labels)
        latency = self._latency(method, split, inputs, loaded)
        return {
            **getattr(method, "extra_results", {}),  # what a method reports about itself (e.g. GDA's alpha)
            "dataset": dataset.name, "split": dataset.test_split, "seed": seed, "shots": shots,
            **metrics, "n_images": len(split), "n_classes": n_classes,
            "seconds_total": time.perf_counter() - start, "setup_seconds": setup_seconds,
            "images_per_s": latency.images_per_s, "latency_ms_per_image": latency.ms_per_image,
            "data_source": dataset.source,
        }

    def _encode(self, loaded, split, view: str = "global", transform=None) -> torch.Tensor:
        return image_features(loaded, split.fingerprint, split, self.cache, self.spec.batch_size, self.spec.workers,
                              view=view, transform=transform, progress=self.reporter)

    def _fewshot(self, dataset, shots: int, seed: int) -> FewShotData:
        source = dataset
        if dataset.fewshot_from and dataset.fewshot_from != dataset.name:
            if dataset.fewshot_from not in self._sources:
                self._sources[dataset.fewshot_from] = DATASETS.get(dataset.fewshot_from)(self.spec.data_root)
            source = self._sources[dataset.fewshot_from]
        if source is not dataset and dataset.imagenet_indices is not None and source.n_classes == 1000:
            target = list(dataset.imagenet_indices)
        else:
            missing = [c for c in dataset.classnames if c not in source.classnames]
            if missing:
                raise RunError(f"dataset {dataset.name!r} trains on {source.name!r}, which lacks classes {missing[:5]}")
            target = [source.classnames.index(c) for c in dataset.classnames]
        subset = fewshot_subset(source, shots, seed, cache_dir=self.spec.cache_dir)
        return FewShotData(source=source, subset=subset, target_classes=target)

    @torch.no_grad()
    def _latency(self, method: Method, split, inputs: MethodInputs, loaded):
        """Per-image inference cost on the first images of the split, setup excluded: the image
        encoder plus the head for feature methods, the method's whole image path otherwise."""
        n = min(self.spec.latency_images, len(split))
        if n == 0:
            return Latency(float("nan"), float("nan"))
        sample = split.subset(range(n))
        if Need.IMAGE_FEATURES not in method.needs:
            return measure(lambda: method.logits_from_images(sample, inputs), n, loaded.device)
        pixels = torch.stack([loaded.preprocess(sample.image(i)) for i in range(n)]).to(loaded.device)

        def run():
            for start in range(0, n, self.spec.batch_size):
                with loaded.autocast():
                    feats = loaded.model.encode_image(pixels[start:start + self.spec.batch_size])
                method.logits_from_features(torch.nn.functional.normalize(feats.float(), dim=-1))

        return measure(run, n, loaded.device)
