"""Does toy-clip look at the object? The fraction of the top-k last-layer CLS-attention patches
whose centres fall inside the object's box, against the fraction of patches the box covers
(what attention spread uniformly would score)."""
from __future__ import annotations

import torch

from zsbench.harness.models.loading import load_model
from zsbench.harness.core.registry import DATASETS
from zsbench.harness.models.vit import cls_attention_map


@torch.no_grad()
def attention_on_object(dataset: str = "toy-a", top_k: int = 20) -> dict[str, float]:
    data = DATASETS.get(dataset)(None)
    split = data.split(data.test_split)
    loaded = load_model("toy-clip", None, "cpu")
    pixels = torch.stack([loaded.preprocess(split.image(i)) for i in range(len(split))])
    attn = cls_attention_map(loaded.model.visual, pixels)  # [N, G, G]
    n, g, _ = attn.shape
    centres = (torch.arange(g, dtype=torch.float32) + 0.5) / g * 2 - 1
    cy, cx = torch.meshgrid(centres, centres, indexing="ij")
    box = split.boxes
    inside = ((cx[None] >= box[:, 0, None, None]) & (cx[None] <= box[:, 2, None, None])
              & (cy[None] >= box[:, 1, None, None]) & (cy[None] <= box[:, 3, None, None])).flatten(1)  # [N, G*G]
    top = attn.flatten(1).topk(top_k, dim=1).indices
    hits = inside.gather(1, top).float()
    return {
        "dataset": dataset,
        "images": n,
        f"top{top_k}_on_object": hits.mean().item(),
        "top1_on_object": hits[:, 0].mean().item(),
        "object_area_fraction": inside.float().mean().item(),
        "ceiling": (inside.float().sum(1).clamp(max=top_k) / top_k).mean().item(),
    }
