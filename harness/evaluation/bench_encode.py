"""``zsbench bench encode``: does the input pipeline keep the image encoder fed?

End to end, the full pipeline (JPEG files of ImageNet's typical size on disk -> read and decoded ->
the evaluation transform -> batches on the device -> features, as ``encode_images`` runs it in a
real evaluation) against the pure model forward on ready tensors of the same batch, for each
``--workers`` value swept, and their ratio. The decode rate of one CPU core (read + decode +
transform, one process) is reported beside it, so that where the pipeline cannot reach the
model's rate the limit is visible: ``workers x decode rate`` images/s at best.

Models have random weights (no download). The images are generated once per (count, size, seed)
in the cache folder: smooth random colour fields with fine grain, stored as baseline JPEGs at
quality 90 (ImageNet's validation JPEGs are mostly 500x375 or 375x500, about 110 KB).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from zsbench.datasets.base import FileSplit
from zsbench.harness.core.cache_dir import default_cache_dir
from zsbench.harness.core.timing import device_timer
from zsbench.harness.evaluation import environment
from zsbench.harness.models.batch_size import resolve_batch_size
from zsbench.harness.models.image_features import encode_images
from zsbench.harness.models.input_pipeline import available_cpus, resolve_workers
from zsbench.harness.models.loading import load_model
from zsbench.harness.core.feature_cache import FeatureCache
from zsbench.harness.evaluation.latency import decode_seconds

IMAGENET_SIZE = (500, 375)
JPEG_QUALITY = 90


def write_jpegs(folder: Path, n: int, size: tuple[int, int] = IMAGENET_SIZE, seed: int = 0) -> list[Path]:
    """``n`` JPEG files ``folder/000000.jpg ...`` (written once; existing complete files are kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:06d}.jpg" for i in range(n)]
    width, height = size
    g = torch.Generator().manual_seed(seed)
    for i, path in enumerate(paths):
        coarse = torch.rand(3, height // 24 + 2, width // 24 + 2, generator=g)
        grain = 0.04 * torch.randn(3, height, width, generator=g)
        if path.exists():
            continue
        smooth = F.interpolate(coarse[None], size=(height, width), mode="bicubic", align_corners=False)[0]
        pixels = ((smooth + grain).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        tmp = path.with_suffix(".tmp")
        Image.fromarray(pixels, mode="RGB").save(tmp, format="JPEG", quality=JPEG_QUALITY)
        tmp.replace(path)
    return paths


@dataclass
class PipelineRate:
    workers: int
    images_per_s: float
    ratio: float  # pipeline / pure forward


@dataclass
class EncodeBenchResult:
    model: str
    device: str
    device_name: str
    precision: str
    batch_size: int
    n_images: int
    image_size: tuple[int, int]
    mean_file_kb: float
    cpus: int
    forward_images_per_s: float
    decode_images_per_s_per_core: float
    pipelines: list[PipelineRate] = field(default_factory=list)

    @property
    def best(self) -> PipelineRate:
        return max(self.pipelines, key=lambda p: p.images_per_s)

    def as_dict(self) -> dict:
        return {**asdict(self), "best_workers": self.best.workers, "best_ratio": self.best.ratio}

    def summary(self) -> str:
        w, h = self.image_size
        rates = "; ".join(f"workers {p.workers}: {p.images_per_s:.1f} images/s ({p.ratio:.2f} of the forward)"
                          for p in self.pipelines)
        return (f"encode {self.model} (random weights, {self.precision}, {self.device}: {self.device_name}, batch "
                f"{self.batch_size}, {self.n_images} JPEGs of {w}x{h}, {self.mean_file_kb:.0f} KB on average, {self.cpus} CPUs): "
                f"pure forward {self.forward_images_per_s:.1f} images/s; decode {self.decode_images_per_s_per_core:.1f} "
                f"images/s per core; pipeline {rates}; best {self.best.ratio:.2f} at workers {self.best.workers}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_encode(model: str = "ViT-B-16", precision: str = "fp32", device: str = "auto", n_images: int = 256,
                 workers: list[int | str] | None = None, batch_size: int | str = "auto", image_dir: Path | None = None,
                 seed: int = 0) -> EncodeBenchResult:
    """Time the pipeline and the pure forward (see the module docstring)."""
    loaded = load_model(model, None, device, precision)
    cache = FeatureCache()
    batch = min(resolve_batch_size(batch_size, loaded, cache), n_images)
    folder = Path(image_dir) if image_dir is not None else default_cache_dir() / "bench" / f"jpeg-{n_images}-{seed}"
    paths = write_jpegs(folder, n_images, seed=seed)
    split = FileSplit(paths, [0] * n_images, f"bench-jpeg/{n_images}/{seed}", name="bench")
    dev = loaded.device

    size = loaded.model.visual.image_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    pixels = torch.randn(batch, 3, *size, device=dev)
    timer = device_timer(dev)

    @torch.inference_mode()
    def forward_all():
        for start in range(0, n_images, batch):
            with loaded.autocast():
                F.normalize(loaded.model.encode_image(pixels[: min(batch, n_images - start)]).float(), dim=-1)

    forward_all()  # warm-up
    forward_s = timer(forward_all)
    per_core_s, _ = decode_seconds(split, min(n_images, 64), loaded.preprocess)

    pipelines = []
    for requested in workers or [0, "auto"]:
        n_workers = resolve_workers(requested, split, dev)
        encode_images(loaded, split.subset(range(min(n_images, 2 * batch))), batch, n_workers)  # warm-up (and page cache)
        _sync(dev)
        start = time.perf_counter()
        encode_images(loaded, split, batch, n_workers)
        _sync(dev)
        rate = n_images / (time.perf_counter() - start)
        pipelines.append(PipelineRate(n_workers, rate, rate / (n_images / forward_s)))
    return EncodeBenchResult(
        model, dev.type, environment.device_name(dev), precision, batch, n_images, IMAGENET_SIZE,
        sum(p.stat().st_size for p in paths) / len(paths) / 1024, available_cpus(), n_images / forward_s,
        1.0 / per_core_s, pipelines,
    )
