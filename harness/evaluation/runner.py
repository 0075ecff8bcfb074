"""One evaluation run: datasets -> features (cached) -> method -> logits -> metrics -> results.

A run first plans every evaluation without touching a model: it checks every flag, resolves every
name, loads every dataset and every input file (descriptions, template pools), draws the few-shot
subsets and computes each evaluation's content identity (``harness.evaluation_id``), so that a bad
flag, a missing dataset or a malformed file fails in seconds. Evaluations already in the results
store are skipped unless forced (a run with nothing left to do never loads the model). Each
finished evaluation's per-image predictions and then its results row are written at once, so an
interrupted run keeps what it finished; the leaderboard is regenerated at the end.

Several models (``--model A,B``) run one after another, each planned before any of them loads.
A run may be one shard of a sweep (``--shard I/N``, ``harness.scaleout.units``). It then does
only its share of the encode units (the test splits' image features) and of the evaluation units.
With ``--phase`` it does only one of the two kinds. Every evaluation is computed under a claim
(``harness.core.claims``), and so is every cache entry, so workers whose shards overlap never
compute a unit twice.
"""
from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from zsbench.harness.core.claims import ClaimBoard
from zsbench.harness.core.config import build_config, config_files, config_hash, config_json, split_overrides
from zsbench.harness.core.errors import RunError
from zsbench.harness.core.feature_cache import FeatureCache
from zsbench.harness.core.hashing import json_sha256
from zsbench.harness.core.registry import DATASETS, METHODS, SUITES
from zsbench.harness.models.batch_size import resolve_batch_size
from zsbench.harness.models.image_features import image_features
from zsbench.harness.models.input_pipeline import resolve_workers
from zsbench.harness.models.loading import DEFAULT_MODEL, DEFAULT_PRETRAINED, check_precision, load_model, resolve_device, weights_identity
from zsbench.harness.models.text_encoding import TextEncoder
from zsbench.datasets.base import DecodedSplit
from zsbench.datasets.fewshot import fewshot_subset
from zsbench.methods.base import FewShotData, Method, MethodInputs, Need
from zsbench.harness.metrics.classification import classification_metrics
from zsbench.harness.metrics.significance import bootstrap_intervals
from zsbench.harness.results.leaderboard import PLOTS_DIR, write_leaderboard
from zsbench.harness.results.predictions import predictions_path, predictions_table, write_predictions
from zsbench.harness.results.store import OUTPUT_PREFIX, RunWriter, check_writable, completed_evaluations, load_results
from zsbench.harness.evaluation import environment
from zsbench.harness.evaluation.evaluation_id import eval_id, inputs_hash, task_hash
from zsbench.harness.evaluation import latency as protocol
from zsbench.harness.evaluation.run_spec import RunSpec, check_spec, default_leaderboard_path, model_choices
from zsbench.harness.scaleout.encode_ranges import RangedEncoding, range_count
from zsbench.harness.scaleout.units import ENCODE, EVALUATE, Shard


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; says which evaluations were kept (all finished ones, nothing partial)."""

    def __init__(self, kept: int, path: Path | None, results_dir: Path):
        self.kept, self.path, self.results_dir = kept, path, results_dir
        super().__init__(str(self))

    def __str__(self) -> str:
        if not self.kept:
            return f"no evaluation of this run had finished; nothing was written to {self.results_dir}"
        return (f"the {self.kept} evaluation(s) this run finished are kept in {self.path}; run the same command "
                "again to resume")


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


def target_classes(dataset, source) -> list[int]:
    """For each class of ``dataset``, its index in ``source`` (the dataset few-shot methods train
    on). By index wherever the label spaces agree (the dataset itself, ImageNet's variants, the toy
    domains), because names are not unique: ImageNet has two "missile" (657, 744) and two
    "sunglasses" (836, 837) classes. By name only between different label spaces."""
    if source is dataset or list(dataset.classnames) == list(source.classnames):
        return list(range(dataset.n_classes))
    if dataset.imagenet_indices is not None and source.n_classes == 1000:
        return list(dataset.imagenet_indices)
    position: dict[str, int] = {}
    for i, name in enumerate(source.classnames):
        position[name] = -1 if name in position else i
    missing = [c for c in dataset.classnames if c not in position]
    if missing:
        raise RunError(f"dataset {dataset.name!r} trains on {source.name!r}, which lacks classes {missing[:5]}")
    ambiguous = [c for c in dataset.classnames if position[c] < 0]
    if ambiguous:
        raise RunError(f"dataset {dataset.name!r} trains on {source.name!r}, where classes {ambiguous[:5]} are not unique "
                       "by name; give the dataset imagenet_indices (or the same class list) so classes map by index")
    return [position[c] for c in dataset.classnames]


def encode_unit_keys(weights_id: str, spec: RunSpec, p) -> list[str]:
    """The keys of the encode units of ``p``'s test split: one, or one per image range of a split
    larger than ``--encode-chunk`` (``harness.scaleout.encode_ranges``)."""
    base = f"{weights_id}|{spec.precision}|{p.dataset.name}|{p.split.fingerprint}"
    n = range_count(len(p.split), spec.encode_chunk)
    return [base] if n == 1 else [f"{base}|range {i}/{n}" for i in range(n)]


def descriptions_hash(descriptions) -> str:
    """Content identity of a method's descriptions (per class, in class order where known)."""
    per_class = getattr(descriptions, "per_class", None)
    if per_class is not None:
        return json_sha256({"classnames": descriptions.classnames, "per_class": per_class})[:16]
    return json_sha256(sorted((str(k), list(v)) for k, v in descriptions.items()))[:16]


@dataclass
class Planned:
    """One evaluation as planned before any model work, with its identity."""

    method: str
    cls: type[Method]
    config: object
    dataset: object
    split: object  # the evaluated (possibly limited) test split
    limit: int | None
    seed: int
    shots: int
    descriptions: dict | None
    fewshot: FewShotData | None
    task_hash: str
    inputs_hash: str
    eval_id: str
    method_inputs: dict  # what resolve_inputs reported when planned


@dataclass
class Evaluation:
    """One (method, dataset, seed) evaluation of a run; ``row`` is what the results store holds
    (for a skipped one, the stored row)."""

    row: dict
    skipped: bool = False


class Runner:
    def __init__(self, spec: RunSpec, reporter=None):
        self.spec = spec
        self.reporter = reporter
        self.cache = FeatureCache(spec.cache_dir)
        self.writer: RunWriter | None = None
        self.leaderboard_path: Path | None = None  # the leaderboard this run re-rendered
        self._sources: dict = {}  # datasets few-shot shots are drawn from (built once per run)
        # the batch that runs: --batch-size, or auto resolved once the model is loaded
        self.batch_size: int | None = spec.batch_size if isinstance(spec.batch_size, int) else None
        self._encode_passes: dict[tuple, list] = {}  # (model, dataset) -> (images, seconds) per batch of its test-split encoding
        self._encoder_timings: dict[tuple, protocol.Timing] = {}  # (model, device, precision, batch) -> encoder timing
        self._decoded: dict[tuple, tuple] = {}  # (dataset, transformed?) -> (decode seconds per image, images)

    def _log(self, message: str) -> None:
        if self.reporter is not None:
            self.reporter.log(message)

    def _done(self, p: Planned) -> None:
        if self.reporter is not None and hasattr(self.reporter, "evaluation_done"):
            self.reporter.evaluation_done(f"{p.method} / {p.dataset.name} / seed {p.seed}")

    def _step(self, p: Planned):
        if self.reporter is not None and hasattr(self.reporter, "step"):
            return self.reporter.step(f"{p.method} / {p.dataset.name} / seed {p.seed}")
        return contextlib.nullcontext()

    def run(self) -> list[Evaluation]:
        try:
            return self._run()
        except RunInterrupted:
            raise
        except KeyboardInterrupt:
            writer = self.writer
            raise RunInterrupted(len(writer.rows) if writer else 0, writer.path if writer else None,
                                 Path(self.spec.results_dir)) from None

    # ------------------------------------------------------------------------------ planning

    def encode_units_count(self) -> int:
        """How many encode units the run has at most (every model's test splits, large ones as image
        ranges), before any model loads: a sweep's encode array needs no more tasks."""
        check_spec(self.spec)
        splits = [self._test_split(d)[0] for d in self._datasets()]
        return len(model_choices(self.spec)) * sum(range_count(len(s), self.spec.encode_chunk) for s in splits)

    def _configs(self) -> tuple[dict[str, type[Method]], dict]:
        spec = self.spec
        classes = {m: METHODS.get(m) for m in dict.fromkeys(spec.methods)}
        routed = split_overrides(list(classes), {m: c.Config for m, c in classes.items()}, spec.overrides)
        configs = {m: build_config(m, classes[m].Config, routed[m]) for m in classes}
        for m, cls in classes.items():
            if Need.FEWSHOT in cls.needs and spec.shots <= 0:
                raise RunError(f"method {m!r} is few-shot: give --shots K (e.g. --shots 16)")
        return classes, configs

    def _datasets(self) -> list:
        spec = self.spec
        if spec.suite and spec.datasets:
            raise RunError("give either --suite or --dataset, not both")
        if spec.suite:
            names = list(SUITES.get(spec.suite).datasets)
        elif spec.datasets:
            names = [n for n in dict.fromkeys(spec.datasets)]  # each dataset once, in the order given
            for name in names:
                DATASETS.get(name)
        else:
            raise RunError("nothing to evaluate: give --suite S or --dataset D[,D...]")
        return [DATASETS.get(name)(spec.data_root) for name in names]

    def _test_split(self, dataset):
        split = dataset.split(dataset.test_split)
        if len(split) == 0:
            raise RunError(f"dataset {dataset.name!r}: its {dataset.test_split} split ({dataset.source}) has no images; "
                           "check the data (`zsbench data status`)")
        limit = self.spec.limit if self.spec.limit is not None and self.spec.limit < len(split) else None
        return limited(split, limit), limit

    def _fewshot(self, dataset, shots: int, seed: int) -> FewShotData:
        source = dataset
        if dataset.fewshot_from and dataset.fewshot_from != dataset.name:
            if dataset.fewshot_from not in self._sources:
                self._sources[dataset.fewshot_from] = DATASETS.get(dataset.fewshot_from)(self.spec.data_root)
            source = self._sources[dataset.fewshot_from]
        target = target_classes(dataset, source)
        subset = fewshot_subset(source, shots, seed, cache_dir=self.spec.cache_dir)
        return FewShotData(source=source, subset=subset, target_classes=target)

    def plan(self, classes: dict, configs: dict, datasets: list, model_name: str, weights_id: str) -> list[Planned]:
        """Every evaluation of the run, with its inputs loaded and checked and its identity."""
        spec = self.spec
        probes = {m: cls(configs[m]) for m, cls in classes.items()}
        planned = []
        for dataset in datasets:
            split, limit = self._test_split(dataset)
            task = task_hash(dataset, split)
            for m, cls in classes.items():
                config, probe = configs[m], probes[m]
                descriptions = probe.load_descriptions(dataset) if Need.DESCRIPTIONS in cls.needs else None
                parts = {
                    "method": m, "config_hash": config_hash(m, config), "config_files": config_files(config),
                    "model": model_name, "weights": weights_id, "precision": spec.precision, "task": task,
                    "descriptions": descriptions_hash(descriptions) if descriptions is not None else None,
                    "method_inputs": probe.resolve_inputs(dataset), "limit": limit,
                }
                shots = spec.shots if Need.FEWSHOT in cls.needs else 0
                seeds = spec.seeds if (cls.uses_seed or shots) else (0,)
                for seed in dict.fromkeys(seeds):
                    fewshot = self._fewshot(dataset, shots, seed) if shots else None
                    if fewshot is not None:
                        parts["fewshot"] = {"source": fewshot.source.name, "shots": shots,
                                            "task": task_hash(fewshot.source, fewshot.subset.train.parent),
                                            "val": fewshot.val.parent.fingerprint if fewshot.val is not None else None}
                    inputs = inputs_hash(parts)
                    planned.append(Planned(m, cls, config, dataset, split, limit, seed, shots, descriptions, fewshot,
                                           task, inputs, eval_id(inputs, seed), parts["method_inputs"]))
        return planned

    # ------------------------------------------------------------------------------ running

    def _run(self) -> list[Evaluation]:
        spec = self.spec
        check_spec(spec)
        shard = Shard.parse(spec.shard)
        classes, configs = self._configs()
        check_precision(spec.precision, resolve_device(spec.device))
        datasets = self._datasets()
        check_writable(spec.results_dir)
        defaults = {d.default_model for d in datasets}
        default_model = defaults.pop() if len(defaults) == 1 and None not in defaults else DEFAULT_MODEL
        plans = []  # every model's evaluations, planned before any model loads
        for model, pretrained in model_choices(spec):
            model_name = model or default_model
            if pretrained is None and model_name == DEFAULT_MODEL:
                pretrained = DEFAULT_PRETRAINED
            label, weights_id = weights_identity(model_name, pretrained)
            plans.append((model_name, pretrained, label, weights_id,
                          self.plan(classes, configs, datasets, model_name, weights_id)))
        stored = {} if spec.force else {r["eval_id"]: r for r in load_results(spec.results_dir).to_dict("records")
                                        if isinstance(r.get("eval_id"), str)}
        self.claims = ClaimBoard(Path(spec.results_dir) / ".claims")
        if self.reporter is not None and hasattr(self.reporter, "overall") and spec.phase != ENCODE:
            self.reporter.overall(sum(shard.holds(EVALUATE, p.eval_id) for *_, planned in plans for p in planned))
        evaluations: list[Evaluation] = []
        for model_name, pretrained, label, weights_id, planned in plans:
            evaluations += self._run_model(model_name, pretrained, label, weights_id, planned, stored, shard)
        if spec.write_leaderboard:
            self.leaderboard_path = Path(spec.leaderboard or default_leaderboard_path(spec.results_dir))
            write_leaderboard(spec.results_dir, self.leaderboard_path)
        return evaluations

    def where_results_went(self) -> list[str]:
        """The lines a run ends with: the Parquet file it wrote and the leaderboard it re-rendered."""
        results_dir = Path(self.spec.results_dir).absolute()
        if self.writer is not None and self.writer.rows:
            lines = [f"results: {self.writer.path.absolute()} ({len(self.writer.rows)} new evaluation(s))"]
        else:
            lines = [f"results: no evaluation was written this time; the store is {results_dir}"]
        if self.leaderboard_path is not None:
            lines.append(f"leaderboard: {self.leaderboard_path.absolute()} (plots in {results_dir / PLOTS_DIR})")
        return lines

    def _run_model(self, model_name: str, pretrained, label: str, weights_id: str, planned: list[Planned], stored: dict,
                   shard: Shard) -> list[Evaluation]:
        """One model's share of the run: its encode units, then its evaluation units, in this shard."""
        spec = self.spec
        todo = [p for p in planned if p.eval_id not in stored]
        encode_units = {}  # dataset -> (the planned evaluation whose test split it encodes, this shard's ranges)
        if spec.phase != EVALUATE:
            for p in todo:
                if Need.IMAGE_FEATURES in p.cls.needs and p.dataset.name not in encode_units:
                    ranges = [i for i, key in enumerate(encode_unit_keys(weights_id, spec, p)) if shard.holds(ENCODE, key)]
                    if ranges:
                        encode_units[p.dataset.name] = (p, ranges)
        mine = [p for p in planned if shard.holds(EVALUATE, p.eval_id)] if spec.phase != ENCODE else []
        evaluations = []
        for p in mine:
            if p.eval_id in stored:
                row = stored[p.eval_id]
                evaluations.append(Evaluation(row, skipped=True))
                self._log(f"skip {p.method} / {p.dataset.name} / seed {p.seed}: stored top-1 {row['acc1']:.2f} % "
                          f"in {spec.results_dir} (use --force to re-run)")
                self._done(p)
        mine = [p for p in mine if p.eval_id not in stored]
        if not mine and not encode_units:
            return evaluations  # nothing to compute: the model is never loaded
        self._log(f"loading model {model_name} ({label}) on {spec.device} ...")
        loaded = load_model(model_name, pretrained, spec.device, spec.precision)
        self.batch_size = resolve_batch_size(spec.batch_size, loaded, self.cache)
        text = TextEncoder(loaded, self.cache, progress=self.reporter)
        if self.writer is None:
            self.writer = RunWriter(spec.results_dir)
        context = {
            "model": model_name, "pretrained": label, "weights_id": weights_id, "precision": spec.precision,
            "batch_size": self.batch_size, "batch_size_source": "auto" if spec.batch_size == "auto" else "flag",
            "suite": spec.suite or "", **environment.versions(), **environment.device_facts(loaded.device),
            **environment.where_it_ran(), "shard": None if shard.whole else str(shard),
        }
        features: dict[str, torch.Tensor] = {}

        def ranged(p: Planned) -> RangedEncoding:
            return RangedEncoding(loaded, p.dataset.name, p.split, self.cache, self.batch_size,
                                  range_count(len(p.split), spec.encode_chunk), spec.workers, self.reporter,
                                  self._encode_passes.setdefault((loaded.identity, p.dataset.name), []))

        def features_of(p: Planned) -> torch.Tensor:
            if p.dataset.name not in features:  # a cache hit, or encoded under a claim (others wait for it)
                if range_count(len(p.split), spec.encode_chunk) > 1:
                    features[p.dataset.name] = ranged(p).features()
                else:
                    passes = self._encode_passes.setdefault((loaded.identity, p.dataset.name), [])
                    features[p.dataset.name] = image_features(loaded, p.dataset.name, p.split, self.cache,
                                                              self.batch_size, spec.workers, progress=self.reporter,
                                                              batch_seconds=passes)
            return features[p.dataset.name]

        for p, ranges in encode_units.values():
            if range_count(len(p.split), spec.encode_chunk) > 1:
                ranged(p).encode_some(ranges)  # this shard's image ranges, merged once all are written
            else:
                features_of(p)
        for p in mine:
            claim = self.claims.try_claim(EVALUATE, p.eval_id)
            if claim is None:
                holder = self.claims.holder(EVALUATE, p.eval_id)
                self._log(f"skip {p.method} on {p.dataset.name} (seed {p.seed}): another worker "
                          f"({holder.get('host', '?')}, pid {holder.get('pid', '?')}) is evaluating it")
                self._done(p)
                continue
            with claim:
                if predictions_path(spec.results_dir, p.eval_id).exists() and not spec.force and \
                        p.eval_id in completed_evaluations(spec.results_dir):
                    self._log(f"skip {p.method} on {p.dataset.name} (seed {p.seed}): another worker finished it")
                    self._done(p)
                    continue
                with self._step(p):
                    row = self._evaluate(p, features_of(p) if Need.IMAGE_FEATURES in p.cls.needs else None, loaded, text)
                row.update(context, workers=resolve_workers(spec.workers, p.split, loaded.device))
                row = self.writer.append(row)
            evaluations.append(Evaluation(row))
            self._done(p)
            self._log(f"{p.method} / {p.dataset.name} / seed {p.seed}: top-1 {row['acc1']:.2f} % "
                      f"[{row['acc1_ci95_low']:.2f}, {row['acc1_ci95_high']:.2f}], "
                      f"{row['latency_ms_p50']:.2f} ms/image (p50, batch 1)")
        return evaluations

    def _evaluate(self, p: Planned, features, loaded, text) -> dict:
        start = time.perf_counter()
        cuda = loaded.device.type == "cuda"
        if cuda:
            from zsbench.harness.core.cuda_device import peak_memory_mb, reset_peak_memory

            reset_peak_memory(loaded.device)
        torch.manual_seed(p.seed)
        method = p.cls(p.config)
        if method.resolve_inputs(p.dataset) != p.method_inputs:  # the identity must describe what is used
            raise RunError(f"method {p.method!r} on {p.dataset.name!r}: an input file changed while the run was going "
                           "(its content hash differs from when the run started); run the command again")
        inputs = MethodInputs(dataset=p.dataset, model=loaded, text=text, seed=p.seed, shots=p.shots, image_features=features,
                              encode_images=functools.partial(self._encode, loaded), descriptions=p.descriptions,
                              fewshot=p.fewshot, cache=self.cache, progress=self.reporter)
        if Need.IMAGES in method.needs:
            inputs.images = p.split
        setup_start = time.perf_counter()
        with torch.no_grad():
            method.fit(inputs)
        setup_seconds = time.perf_counter() - setup_start
        split, features, n_classes = restrict_to_classes(p.split, features, method.class_subset, p.dataset.n_classes)
        with torch.inference_mode():
            if Need.IMAGE_FEATURES in method.needs:
                logits = method.logits_from_features(features)
            else:
                logits = method.logits_from_images(split, inputs)
        metrics = classification_metrics(logits, split.labels)
        table = predictions_table(p.eval_id, split.image_ids(), split.labels, logits, self.spec.save_logits)
        correct = table["correct"].to_numpy(zero_copy_only=False)
        intervals = bootstrap_intervals(correct, split.labels.numpy())
        latency = self._latency(method, p.dataset.name, split, features, inputs, loaded)
        write_predictions(self.spec.results_dir, table)  # before the row, so a row never lacks its predictions
        return {
            **{f"{OUTPUT_PREFIX}{k}": v for k, v in method.extra_results.items()},
            "method": p.method, "config_hash": config_hash(p.method, p.config), "config_json": config_json(p.config),
            "dataset": p.dataset.name, "split": p.dataset.test_split, "seed": p.seed, "shots": p.shots, "limit": p.limit,
            **metrics, **intervals, "n_images": len(split), "n_classes": n_classes, "classes": method.classes,
            "n_train": len(p.fewshot.train) if p.fewshot is not None else None,
            "seconds_total": time.perf_counter() - start, "setup_seconds": setup_seconds,
            **latency, "gpu_mem_peak_mb": peak_memory_mb(loaded.device) if cuda else None,
            "data_source": p.dataset.source, "eval_id": p.eval_id, "inputs_hash": p.inputs_hash, "task_hash": p.task_hash,
        }

    def _encode(self, loaded, split, view: str = "global", transform=None) -> torch.Tensor:
        if self.batch_size is None:
            self.batch_size = resolve_batch_size(self.spec.batch_size, loaded, self.cache)
        return image_features(loaded, split.fingerprint, split, self.cache, self.batch_size, self.spec.workers,
                              view=view, transform=transform, progress=self.reporter)

    def _decoded_sample(self, dataset_name: str, split, n: int, transform=None) -> tuple[float, list]:
        """(decode seconds per image, the first ``n`` images decoded, through ``transform`` when given),
        once per dataset and kind."""
        key = (dataset_name, split.fingerprint, transform is not None)
        if key not in self._decoded or len(self._decoded[key][1]) < n:
            self._decoded[key] = protocol.decode_seconds(split, n, transform)
        seconds, images = self._decoded[key]
        return seconds, images[:n]

    def _encoder_timing(self, loaded, dataset_name: str, pixels: torch.Tensor, n_images: int) -> protocol.Timing:
        """The image encoder's timing, once per (model, device, precision, batch) in a run, where the
        batch is the run's, or the split's size when that is smaller (what the evaluation ran at);
        its throughput from this run's encoding pass of the dataset when that pass was long enough."""
        batch = min(self.batch_size, n_images)
        key = (loaded.identity, str(loaded.device), loaded.precision, batch)
        if key not in self._encoder_timings:
            from_pass = protocol.pass_throughput(self._encode_passes.get((loaded.identity, dataset_name), []), batch)
            self._encoder_timings[key] = protocol.encoder_timing(loaded, pixels.to(loaded.device), batch, from_pass)
        return self._encoder_timings[key]

    def _latency(self, method: Method, dataset_name: str, split, features, inputs: MethodInputs, loaded) -> dict:
        """The latency columns (``harness.evaluation.latency``): the image encoder (timed once per
        run) plus the method's head for feature methods, the method's whole image path otherwise."""
        n = min(self.spec.latency_images, len(split))
        if n == 0:
            return protocol.latency_columns(None, "", None)
        with torch.inference_mode():
            if Need.IMAGE_FEATURES not in method.needs:
                batch = max(n, min(self.batch_size, len(split)))
                decode_s, images = self._decoded_sample(dataset_name, split, batch)
                sample = DecodedSplit(images, split, range(batch))
                timing = protocol.whole_timing(method, sample, inputs, n, loaded.device)
                return protocol.latency_columns(timing, protocol.SCOPE_WHOLE, decode_s)
            decode_s, pixels = self._decoded_sample(dataset_name, split, n, loaded.preprocess)
            encoder = self._encoder_timing(loaded, dataset_name, torch.stack(pixels), len(split))
            head = protocol.head_timing(method, features[:n].to(loaded.device), encoder.batch)
            return protocol.latency_columns(encoder.then(head), protocol.SCOPE_FEATURES, decode_s)
