"""``zsbench bench``: the per-image cost of ABS against the pure model work it needs, in one run.

ABS's seconds per image (its whole image path, ``logits_from_images``, with its own batching) and,
with the same model, device, batching and image count, the seconds per image of the model work it
cannot avoid:

- one attention pass (DINO ViT-B/16 on 224x224 with ``attention=dino``; with ``attention=clip`` the
  map comes from the forward below and costs nothing extra),
- ``1 + num_crops`` image-encoder forwards (the full image and the raw crops),
- ``num_feature_crops`` last-block passes (the feature-space crops).

Their ratio is the cost of everything else ABS does (sampling, crop resampling, feature windows, soft
matching over ``n_classes x n_descriptions`` descriptions). Models have random weights (no download);
images are random, ``image_size`` pixels. Timings are wall time, the best of ``repeats`` interleaved
runs of each (after a warm-up call of each), so that load from other processes affects both alike.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from zsbench.datasets.base import Dataset, TensorSplit
from zsbench.harness.core.registry import register_benchmark


@dataclass
class BenchResult:
    method: str
    model: str
    device: str
    precision: str
    attention: str
    n_images: int
    image_size: tuple[int, int]
    n_classes: int
    n_descriptions: int
    threads: int
    method_s_per_image: float
    pure_s_per_image: float

    @property
    def ratio(self) -> float:
        return self.method_s_per_image / self.pure_s_per_image

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}

    def summary(self) -> str:
        w, h = self.image_size
        return (f"{self.method} ({self.model}, random weights, attention={self.attention}, {self.device}, {self.precision}, "
                f"{self.threads} threads, "
                f"{self.n_images} images of {w}x{h}, {self.n_classes} classes x {self.n_descriptions} descriptions): "
                f"{self.method_s_per_image:.2f} s/image; pure model work {self.pure_s_per_image:.2f} s/image; "
                f"ratio {self.ratio:.3f}")


def _random_images(n: int, width: int, height: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, height // 16 + 1, width // 16 + 1, generator=g)
    smooth = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    return ((smooth + 0.1 * torch.randn(n, 3, height, width, generator=g)).clamp(0, 1) * 255).round().to(torch.uint8)


def random_model(model: str, device: str = "cpu", precision: str = "fp32"):
    """An open_clip model with random weights (seeded), as a LoadedModel."""
    from zsbench.harness.models.loading import load_model

    torch.manual_seed(0)
    return load_model(model, None, device, precision)


@torch.inference_mode()
def bench_abs(model: str = "ViT-B-16", n_images: int = 4, image_size: tuple[int, int] = (500, 375), device: str = "cpu",
              attention: str = "dino", n_classes: int = 1000, n_descriptions: int = 50, repeats: int = 2, seed: int = 1,
              precision: str = "fp32", **config) -> BenchResult:
    """Time ABS and its pure model work (see the module docstring). ``config``: ABS hyperparameters."""
    from zsbench.methods.abs.method import ABS
    from zsbench.methods.base import MethodInputs

    from zsbench.harness.models.vit import finish_from_last_block, grid_size

    loaded = random_model(model, device, precision)
    dev, visual = loaded.device, loaded.model.visual
    width, height = image_size
    split = TensorSplit(_random_images(n_images, width, height, seed), [0] * n_images, f"bench/{width}x{height}/{seed}")
    names = [f"class {i}" for i in range(n_classes)]
    dataset = Dataset("bench", names, ["{}"], ["{}"], {"test": lambda: split}, "random")
    method = ABS(ABS.Config(attention=attention, attention_weights="random", **config))
    embed = visual.output_dim
    g = torch.Generator().manual_seed(seed)
    text = F.normalize(torch.randn(n_classes, n_descriptions, embed, generator=g), dim=-1)
    method.use_text(text, torch.ones(n_classes, n_descriptions, dtype=torch.bool))
    method.prepare(loaded)
    inputs = MethodInputs(dataset=dataset, model=loaded, text=None, seed=seed, shots=0)
    cfg = method.config
    size = int(loaded.preprocess(split.image(0)).shape[-1])
    grid = grid_size(visual)
    tokens_width = visual.transformer.width

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def run_method():
        method.logits_from_images(split, inputs)

    def run_pure():
        for batch in method.image_batches(n_images):
            b = len(batch)
            if method.dino_network is not None:
                method.dino_network.forward_features(torch.randn(b, 3, 224, 224, device=dev))
            pixels = torch.randn(b * (1 + cfg.num_crops), 3, size, size, device=dev)
            tokens = torch.randn(b * cfg.num_feature_crops, 1 + grid * grid, tokens_width, device=dev)
            with loaded.autocast():
                for chunk in method.encoder_batches(pixels.shape[0]):
                    loaded.model.encode_image(pixels[chunk])
                for chunk in method.encoder_batches(tokens.shape[0]):
                    finish_from_last_block(visual, tokens[chunk])

    def timed(fn) -> float:
        sync()
        start = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - start

    method.logits_from_images(split.subset([0]), inputs)  # warm-ups
    run_pure()
    best = {"pure": float("inf"), "method": float("inf")}
    for r in range(max(1, repeats)):  # interleaved, order alternating, best of each: robust to other load
        for name in (("pure", "method") if r % 2 == 0 else ("method", "pure")):
            best[name] = min(best[name], timed(run_pure if name == "pure" else run_method))
    best_method, best_pure = best["method"], best["pure"]
    return BenchResult("abs", model, str(dev), precision, method.source, n_images, (width, height), n_classes, n_descriptions,
                       torch.get_num_threads(), best_method / n_images, best_pure / n_images)


register_benchmark("abs")(bench_abs)
