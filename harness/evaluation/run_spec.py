"""What a run is asked to do (``zsbench run``'s flags as a :class:`RunSpec`) and the checks that
need no lookup. Light on purpose: the CLI builds and checks a spec without importing torch."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from zsbench.harness.core.errors import RunError

DEFAULT_SEEDS = (1, 2, 3)


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
    batch_size: int | str = "auto"  # or "auto": harness.models.batch_size
    limit: int | None = None
    overrides: list[str] = field(default_factory=list)
    results_dir: Path = Path("results")
    force: bool = False
    data_root: Path | None = None
    workers: int | str = "auto"  # or "auto": harness.models.input_pipeline
    latency_images: int = 64
    leaderboard: Path | None = None
    cache_dir: Path | None = None
    save_logits: bool = False
    shard: str | None = None  # "I/N": this worker's share of the units (harness.scaleout.units)
    phase: str = "all"  # all | encode (fill the feature cache only) | evaluate (rows only)
    write_leaderboard: bool = True  # off for a sweep's array tasks: the sweep renders it once
    encode_chunk: int = 10_000  # test images per encode unit (harness.scaleout.encode_ranges); 0: one unit per split


def model_choices(spec: RunSpec) -> list[tuple[str | None, str | None]]:
    """(model, pretrained) per model of the run: ``--model A,B`` with ``--pretrained X,Y`` paired in
    order (a single ``--pretrained``, or none, applies to every model)."""
    models = [m.strip() for m in (spec.model or "").split(",") if m.strip()] or [None]
    weights = [w.strip() for w in spec.pretrained.split(",")] if spec.pretrained is not None else [None]
    if len(weights) == 1:
        weights = weights * len(models)
    if len(weights) != len(models):
        raise RunError(f"--pretrained {spec.pretrained}: {len(weights)} weights for {len(models)} models "
                       f"({spec.model}); give one per model, in the same order, e.g. --model A,B --pretrained X,Y")
    pairs = list(zip(models, weights))
    if len(set(pairs)) != len(pairs):
        raise RunError(f"--model {spec.model} --pretrained {spec.pretrained}: a model is named twice")
    return pairs


def default_leaderboard_path(results_dir: Path) -> Path:
    """``results/`` -> ``leaderboard.md`` beside it; any other results dir gets its own file inside."""
    results_dir = Path(results_dir)
    return results_dir.parent / "leaderboard.md" if results_dir.name == "results" else results_dir / "leaderboard.md"


def auto_or_int(flag: str, value: int | str, low: int) -> int | str:
    """``auto`` or an integer of at least ``low`` (given as int or text), else a RunError naming ``flag``."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RunError(f"{flag} {value}: expected auto or an integer of at least {low}") from None
    if number < low:
        raise RunError(f"{flag} {value}: must be at least {low} (or auto)")
    return number


def check_spec(spec: RunSpec) -> None:
    """The flags that need no lookup, checked before anything is loaded."""
    if not spec.methods:
        raise RunError("--method: no method given; pass one or more names, e.g. --method clip-e (see `zsbench list methods`)")
    if not spec.seeds:
        raise RunError("--seeds: no seed given; pass comma-separated integers, e.g. --seeds 1,2,3")
    spec.batch_size = auto_or_int("--batch-size", spec.batch_size, 1)
    spec.workers = auto_or_int("--workers", spec.workers, 0)
    for flag, value, low in (("--shots", spec.shots, 0), ("--latency-images", spec.latency_images, 0),
                             ("--encode-chunk", spec.encode_chunk, 0)):
        if value < low:
            raise RunError(f"{flag} {value}: must be at least {low}")
    if spec.phase not in ("all", "encode", "evaluate"):
        raise RunError(f"--phase {spec.phase}: expected all, encode or evaluate")
    from zsbench.harness.scaleout.units import Shard

    Shard.parse(spec.shard)
    model_choices(spec)
    if spec.limit is not None and spec.limit < 1:
        raise RunError(f"--limit {spec.limit}: must be at least 1 (leave it out to evaluate every test image)")
