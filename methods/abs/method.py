"""ABS: Attention-Based Selection (Cai et al., "From Local Details to Global Context: Advancing
Vision-Language Models with Attention-Based Selection", ICML 2025; reference code
github.com/BIT-DA/ABS: ``main.py`` custom_loader, ``helper.py``, ``clip/model.py``
forward_with_attention).

For each image:

1. **Attention.** The last-layer CLS-to-patch attention of a ViT, averaged over heads: DINO ViT-B/16
   on the image squashed to 224x224 (``attention=dino``, the reference's) or the evaluated CLIP's own
   last block on CLIP's input (``attention=clip``: no extra model; the toy world's choice).
2. **Raw-image crops.** ``num_crops`` centres drawn with replacement from the ``top_k`` strongest
   patches, with probabilities ``softmax(values / select_temperature)``; each centre is its patch
   box's centre in original pixels; a box of random width and height (independently in
   ``crop_scale`` of the image's) around it, clamped to the image, through CLIP's preprocessing
   (resize, centre crop, normalise: all boxes of an image in one batched resampling), encoded.
3. **Feature-space crops.** ``num_feature_crops`` more centres drawn the same way; for each, a
   window of the token grid at the input of CLIP's last block (side ``randint(int(0.6 G),
   int(0.9 G))``), resized back to ``G x G`` (bicubic), with the full image's CLS token prepended,
   through the last block, ``ln_post`` and the projection (all windows in one batched call).
4. **Soft matching.** For crop k and the first ``n_descriptions`` CuPL descriptions ``t_{c,d}``:
   ``s = <v_k, t_{c,d}> / match_temperature``; ``p = softmax(s)`` over all (class, description) pairs
   jointly; the crop's score for class c is ``sum_d p s``; the image's logit the sum over crops.
   Computed in class chunks with bounded memory (ImageNet's 1000 x 50 descriptions included).

Quirks of the reference reproduced with ``faithful=true`` (the default), and what
``faithful=false`` does instead:

- Feature windows are sliced ``[c - s//2, c + s//2 + 1)``, so their effective sizes are odd
  (s = 8..12 on a 14x14 grid gives 9, 9, 11, 11, 13 tokens). Not faithful: exactly s tokens.
- DINO's cell indices, computed on the image *squashed* to 224x224, are used as cells of CLIP's
  grid, which shows the *centre crop* (other grids: the reference's integer remapping,
  ``row * G // 14``). Not faithful: a cell's centre is mapped through the original pixels.
- Raw crop boxes are ``[c - w//2, c + w//2)``, so their sizes are even. Not faithful: exactly w.
- The softmax runs over all (class, description) pairs jointly. On ImageNet-A/-R the reference
  scores all 1000 ImageNet classes, so the softmax includes the 800 classes the dataset does not
  have, and takes the argmax over the 200. Not faithful: a softmax over each class's own
  descriptions, and only the dataset's classes.
- The reference computes each crop's similarity to the global image feature and never uses it:
  crops are summed unweighted. ``global_weighting=true`` (independent of ``faithful``) weights them
  by ``softmax(exp(global_weight_scale) * cos(global, crop))`` as its unused code intends.

Not reproduced, because it changes nothing but cost: the reference runs DINO twice per image (in
its data loader for the raw crops, on the GPU again for the feature crops) and draws both sets of
centres from the two identical maps; we run it once and draw both sets from it, independently. Its
random numbers come from Python's ``random`` and torch's global generator in loader workers; ours
from one ``torch.Generator`` seeded with the run's seed and consumed image by image in order, so the
same seed gives the same crops whatever the batching.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from zsbench.harness.core.config import ConfigError, param
from zsbench.methods.abs.geometry import Frame, crop_boxes, grid_size_range, remap_cells, sample_cells, size_range, window_bounds
from zsbench.methods.abs.resampling import CropTransform, crops_with_transform, image_to_tensor, torch_bicubic_matrices
from zsbench.harness.core.registry import register_method
from zsbench.harness.models.vit import finish_from_last_block, grid_size, last_block_cls_attention, tokens_before_last_block

from zsbench.datasets import descriptions as desc
from zsbench.methods.base import Method, MethodInputs, Need

AttentionSource = Literal["auto", "dino", "clip"]  # dino (reference), clip (the evaluated model's own), auto


# --------------------------------------------------------------------------------------------------
# soft matching


def soft_matching(crops: torch.Tensor, text: torch.Tensor, valid: torch.Tensor, temperature: float = 0.03,
                  joint: bool = True, crop_weights: torch.Tensor | None = None,
                  max_chunk_elements: int = 1 << 24) -> torch.Tensor:
    """ABS's soft matching: crop features ``[B, K, D]`` and description features ``[C, N, D]`` (padded;
    ``valid [C, N]`` marks real descriptions) -> image logits ``[B, C]``.

    ``s[b,k,c,d] = <crop, text> / temperature``; ``p`` is the softmax of ``s`` over all (c, d) pairs
    (``joint``) or over each class's d; the crop score is ``sum_d p s``; the logit is the sum over
    crops (or the ``crop_weights``-weighted sum). Classes are processed in chunks of at most
    ``max_chunk_elements`` similarities; the joint softmax needs one pass, keeping each chunk's
    running maximum and rescaling at the end.
    """
    b, k, d = crops.shape
    c, n, _ = text.shape
    rows = crops.reshape(b * k, d)
    text = text.to(rows.device, rows.dtype)
    valid = valid.to(rows.device)
    chunk = max(1, max_chunk_elements // max(b * k * n, 1))
    scores = torch.empty(b * k, c, device=rows.device, dtype=rows.dtype)
    maxima, totals, bounds = [], [], []
    for lo in range(0, c, chunk):
        hi = min(c, lo + chunk)
        s = (rows @ text[lo:hi].reshape(-1, d).T).view(b * k, hi - lo, n) / temperature
        ok = valid[lo:hi]
        s_zeroed = s.masked_fill(~ok, 0.0)
        s = s.masked_fill(~ok, float("-inf"))
        if joint:
            m = s.amax(dim=(1, 2))  # [BK]
            e = torch.exp(s - m[:, None, None])  # padding -> 0
            scores[:, lo:hi] = (e * s_zeroed).sum(-1)
            maxima.append(m)
            totals.append(e.sum(dim=(1, 2)))
            bounds.append((lo, hi))
        else:
            scores[:, lo:hi] = (torch.softmax(s, dim=-1) * s_zeroed).sum(-1)
    if joint:
        m = torch.stack(maxima)  # [chunks, BK]
        top = m.amax(0)
        lse = top + torch.log((torch.stack(totals) * torch.exp(m - top)).sum(0))
        for (lo, hi), mi in zip(bounds, maxima):
            scores[:, lo:hi] *= torch.exp(mi - lse)[:, None]
    scores = scores.view(b, k, c)
    if crop_weights is None:
        return scores.sum(1)
    return (scores * crop_weights.to(scores)[..., None]).sum(1)


def pad_descriptions(features: torch.Tensor, counts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat ``[sum(counts), D]`` features -> padded ``[C, max(counts), D]`` and the validity mask."""
    n = max(counts)
    out = torch.zeros(len(counts), n, features.shape[1], dtype=features.dtype)
    valid = torch.zeros(len(counts), n, dtype=torch.bool)
    for i, part in enumerate(torch.split(features, counts)):
        out[i, :len(part)] = part
        valid[i, :len(part)] = True
    return out, valid


# --------------------------------------------------------------------------------------------------
# crop plans: where the crops of one image are


@dataclass
class CropPlan:
    """The crops of one image: raw boxes ``[K1, 4]`` (x0, y0, x1, y1) in original pixels and
    feature windows ``[K2]`` (row start, row length, col start, col length) on CLIP's token grid."""

    boxes: torch.Tensor
    row_start: torch.Tensor
    row_len: torch.Tensor
    col_start: torch.Tensor
    col_len: torch.Tensor


@register_method("abs")
class ABS(Method):
    name = "abs"
    needs = frozenset({Need.IMAGES, Need.DESCRIPTIONS})
    uses_seed = True

    # execution settings, not hyperparameters (results do not depend on them)
    images_per_batch = 4  # images whose crops are encoded together
    encode_batch = 256  # crops per image-encoder / last-block call

    @dataclass
    class Config:
        descriptions: str = "cupl"  # named source (cupl, cupl-base, cupl-full, dclip), path to a JSON file, or "dataset"
        n_descriptions: int = param(50, ge=1)  # the first N descriptions of each class
        attention: AttentionSource = "auto"  # auto: clip for toy-clip, else dino
        attention_weights: str = ""  # dino: a local timm checkpoint; "": the local HF cache; "random": untrained
        top_k: int = param(20, ge=1)
        select_temperature: float = param(0.03, gt=0)  # softmax temperature over the top-k attention values
        num_crops: int = param(50, ge=0)  # raw-image crops
        num_feature_crops: int = param(50, ge=0)  # feature-space crops
        crop_scale: tuple[float, float] = param((0.6, 0.9), gt=0, le=1)  # crop side / image side (raw), window / grid (feature)
        match_temperature: float = param(0.03, gt=0)
        faithful: bool = True  # reproduce the reference's quirks (see the module docstring)
        global_weighting: bool = False
        global_weight_scale: float = 4.0  # log-scale of the global-similarity weighting (reference cfg image_scale)

        def __post_init__(self):
            where = "method 'abs'"
            if self.num_crops + self.num_feature_crops <= 0:
                raise ConfigError(f"--set num_crops / num_feature_crops ({where}): need at least one crop")
            scale = tuple(self.crop_scale)
            if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
                raise ConfigError(f"--set crop_scale={','.join(map(str, scale))} ({where}): give LO,HI with 0 < LO <= HI <= 1")
            self.crop_scale = (float(scale[0]), float(scale[1]))

    # ---------------------------------------------------------------------------------- setup

    def label_space(self, dataset) -> tuple[desc.LabelSpace, list[int] | None]:
        """The classes the softmax runs over, and which of them are the dataset's (None: all). The
        reference scores ImageNet-A/-R against all 1000 ImageNet classes (faithful)."""
        if dataset.imagenet_indices is not None and self.config.faithful:
            from zsbench.datasets import imagenet

            return desc.LabelSpace(list(imagenet.classnames())), list(dataset.imagenet_indices)
        return desc.LabelSpace.of(dataset), None

    def load_descriptions(self, dataset) -> desc.Descriptions:
        space, _ = self.label_space(dataset)
        return desc.load(self.config.descriptions, dataset, space)

    def fit(self, inputs: MethodInputs) -> None:
        space, output_index = self.label_space(inputs.dataset)
        lists = [s[:self.config.n_descriptions] for s in desc.per_class_lists(inputs.descriptions, space.classnames)]
        features = inputs.text.encode([s for group in lists for s in group])  # cached per (model, sentences)
        self.use_text(*pad_descriptions(features, [len(g) for g in lists]), output_index=output_index)
        self.prepare(inputs.model)
        self.extra_results = {"abs_attention": self.source}  # what attention=auto resolved to

    def use_text(self, features: torch.Tensor, valid: torch.Tensor, output_index: list[int] | None = None) -> None:
        """Description features ``[C, N, D]`` (normalised, padded) with their mask ``[C, N]``."""
        self.text, self.valid, self.output_index = features, valid, output_index

    def attention_source(self, loaded) -> str:
        if self.config.attention != "auto":
            return self.config.attention
        from zsbench.datasets.toy import TOY_MODEL

        return "clip" if loaded.name == TOY_MODEL else "dino"

    def prepare(self, loaded, dino_model: torch.nn.Module | None = None) -> None:
        """Model-side setup: check the image tower, read its preprocessing, load DINO if used."""
        visual = loaded.model.visual
        if not all(hasattr(visual, a) for a in ("transformer", "_embeds", "_pool", "grid_size")):
            from zsbench.harness.core.errors import RunError

            raise RunError(f"method 'abs' needs an open_clip ViT image tower (token grid, last block); "
                           f"{loaded.name} has {type(visual).__name__}")
        self.source = self.attention_source(loaded)
        self.transform = CropTransform.from_preprocess(loaded.preprocess)
        self.dino = None
        if self.source == "dino":
            from zsbench.methods.abs.attention import DinoAttention

            self.dino = DinoAttention(self.config.attention_weights, loaded.device, model=dino_model)

    # ---------------------------------------------------------------------------------- per image

    def plan(self, attention: torch.Tensor, attention_grid: int, attention_frame: Frame, clip_frame: Frame,
             grid: int, generator: torch.Generator) -> CropPlan:
        """Draw one image's crops: raw centres and sizes, then feature centres and sizes (in that
        order from ``generator``)."""
        cfg = self.config
        width, height = attention_frame.width, attention_frame.height
        k1, k2 = cfg.num_crops, cfg.num_feature_crops
        cells = sample_cells(attention, cfg.top_k, cfg.select_temperature, k1, generator)
        cx, cy = attention_frame.patch_centres(cells, attention_grid)
        (wlo, whi), (hlo, hhi) = size_range(width, cfg.crop_scale), size_range(height, cfg.crop_scale)
        w = torch.randint(wlo, whi + 1, (k1,), generator=generator)
        h = torch.randint(hlo, hhi + 1, (k1,), generator=generator)
        boxes = crop_boxes(cx, cy, w, h, width, height, cfg.faithful)

        cells = sample_cells(attention, cfg.top_k, cfg.select_temperature, k2, generator)
        if attention_grid != grid or attention_frame != clip_frame:
            if cfg.faithful:
                cells = remap_cells(cells, attention_grid, grid)
            else:
                px, py = attention_frame.patch_centres(cells, attention_grid)
                cells = clip_frame.to_grid(px, py, grid)
        lo, hi = grid_size_range(grid, cfg.crop_scale)
        sizes = torch.randint(lo, hi + 1, (k2,), generator=generator)
        row_start, row_len = window_bounds(cells // grid, sizes, grid, cfg.faithful)
        col_start, col_len = window_bounds(cells % grid, sizes, grid, cfg.faithful)
        return CropPlan(boxes, row_start, row_len, col_start, col_len)

    def image_batches(self, n: int) -> list[range]:
        """The indices of ``n`` images in the batches whose crops are encoded together."""
        return [range(start, min(n, start + self.images_per_batch)) for start in range(0, n, self.images_per_batch)]

    def encoder_batches(self, n: int) -> list[slice]:
        """``n`` crops (pixels or last-block inputs) in the chunks of one encoder call each."""
        return [slice(start, start + self.encode_batch) for start in range(0, n, self.encode_batch)]

    @property
    def dino_network(self) -> torch.nn.Module | None:
        """The DINO ViT the attention maps come from (``attention=dino``), None with CLIP's own."""
        return self.dino.model if self.dino is not None else None

    def _encode(self, fn, batch: torch.Tensor) -> torch.Tensor:
        out = [fn(batch[chunk]).float() for chunk in self.encoder_batches(batch.shape[0])]
        return F.normalize(torch.cat(out), dim=-1) if out else batch.new_zeros(0, 0)

    def raw_crop_pixels(self, image, tensor: torch.Tensor, boxes: torch.Tensor, loaded) -> torch.Tensor:
        if self.transform is not None:
            return self.transform(tensor.to(loaded.device), boxes)
        return crops_with_transform(image, boxes, loaded.preprocess).to(loaded.device)

    def feature_crop_tokens(self, tokens: torch.Tensor, plan: CropPlan, grid: int) -> torch.Tensor:
        """One image's last-block inputs ``[1 + G*G, width]`` -> the windows' ``[K2, 1 + G*G, width]``
        (each window bicubically resized to G x G, the full image's CLS token first)."""
        width = tokens.shape[-1]
        patches = tokens[1:].float().reshape(grid, grid * width)
        my = torch_bicubic_matrices(plan.row_start, plan.row_len, grid, grid).to(tokens.device)
        mx = torch_bicubic_matrices(plan.col_start, plan.col_len, grid, grid).to(tokens.device)
        rows = torch.matmul(my, patches).view(-1, grid, grid, width)  # [K, y, j, d]
        out = torch.matmul(mx[:, None], rows)  # [K, y, x, d]
        cls = tokens[:1].float().expand(out.shape[0], 1, width)
        return torch.cat([cls, out.reshape(out.shape[0], grid * grid, width)], dim=1).to(tokens.dtype)

    def crop_features(self, images: list, loaded, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """PIL images -> normalised crop features ``[B, K2 + K1, D]`` (feature crops first, as in the
        reference) and the optional global-similarity crop weights ``[B, K]``."""
        visual, dev = loaded.model.visual, loaded.device
        grid = grid_size(visual)
        tensors = [image_to_tensor(im) for im in images]
        pixels = torch.stack([loaded.preprocess(im) for im in images]).to(dev)
        size = pixels.shape[-1]
        with loaded.autocast():
            tokens = tokens_before_last_block(visual, pixels)
        clip_frames = [Frame.of_transform(self.transform, int(t.shape[2]), int(t.shape[1]), size) for t in tensors]
        if self.source == "clip":
            with loaded.autocast():
                attention = last_block_cls_attention(visual, tokens).float()
            attention_grid, attention_frames = grid, clip_frames
        else:
            attention = self.dino(tensors)
            attention_grid, attention_frames = self.dino.grid, self.dino.frames(tensors)
        plans = [self.plan(attention[i], attention_grid, attention_frames[i], clip_frames[i], grid, generator)
                 for i in range(len(images))]

        parts = []
        if self.config.num_feature_crops:
            windows = torch.cat([self.feature_crop_tokens(tokens[i], p, grid) for i, p in enumerate(plans)])
            with loaded.autocast():
                parts.append(self._encode(lambda x: finish_from_last_block(visual, x), windows)
                             .view(len(images), self.config.num_feature_crops, -1))
        if self.config.num_crops:
            crops = torch.cat([self.raw_crop_pixels(im, t, p.boxes, loaded) for im, t, p in zip(images, tensors, plans)])
            with loaded.autocast():
                parts.append(self._encode(loaded.model.encode_image, crops).view(len(images), self.config.num_crops, -1))
        features = torch.cat(parts, dim=1)
        weights = None
        if self.config.global_weighting:
            with loaded.autocast():
                global_features = F.normalize(finish_from_last_block(visual, tokens).float(), dim=-1)
            similarity = (features * global_features[:, None]).sum(-1)
            weights = torch.softmax(math.exp(self.config.global_weight_scale) * similarity, dim=1)
        return features, weights

    def logits_from_images(self, images, inputs: MethodInputs) -> torch.Tensor:
        loaded = inputs.model
        generator = torch.Generator().manual_seed(int(inputs.seed))
        n = len(images)
        advance = inputs.progress_bar(f"abs on {inputs.dataset.name} ({n} images)", n)
        text = self.text.to(loaded.device)
        chunks = []
        for batch_indices in self.image_batches(n):
            batch = [images.image(i) for i in batch_indices]
            features, weights = self.crop_features(batch, loaded, generator)
            scores = soft_matching(features, text, self.valid, self.config.match_temperature,
                                   joint=self.config.faithful, crop_weights=weights)
            if self.output_index is not None:
                scores = scores[:, self.output_index]
            chunks.append(scores.float().cpu())
            advance(len(batch))
        return torch.cat(chunks) if chunks else torch.zeros(0, len(self.output_index or self.text))
