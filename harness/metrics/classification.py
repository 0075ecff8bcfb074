"""Accuracy metrics computed by the harness from a method's logits (methods never score themselves)."""
from __future__ import annotations

import torch


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Top-1, top-5 (top-C when there are fewer classes) and mean per-class recall, in percent."""
    logits, labels = logits.float().cpu(), labels.cpu()
    n, c = logits.shape
    if n != len(labels):
        raise ValueError(f"{n} rows of logits for {len(labels)} labels")
    top = logits.topk(min(5, c), dim=1).indices
    correct1 = top[:, 0] == labels
    correct5 = (top == labels[:, None]).any(1)
    # Counts, then float64: percentages without float32 noise (325/600 -> 54.166666666666664).
    total = torch.bincount(labels, minlength=c).double()
    right = torch.bincount(labels[correct1], minlength=c).double()
    present = total > 0
    return {
        "acc1": 100.0 * int(correct1.sum()) / n,
        "acc5": 100.0 * int(correct5.sum()) / n,
        "mean_per_class_recall": 100.0 * (right[present] / total[present]).mean().item(),
    }


def harmonic_mean(base: float, new: float) -> float:
    """Base-to-new's summary of base- and new-class accuracy (CoCoOp's HM); 0 when both are 0."""
    return 0.0 if base + new == 0 else 2.0 * base * new / (base + new)
