"""Metrics from logits: top-1, top-5 and mean per-class recall on a hand-checked example."""
import pytest
import torch

from zsbench.harness.metrics.classification import classification_metrics


def test_metrics_on_a_hand_made_example():
    # 4 images, 6 classes; labels 0, 0, 1, 2
    logits = torch.tensor([
        [9, 1, 0, 0, 0, 0],  # correct
        [1, 9, 0, 0, 0, 0],  # wrong, label second
        [0, 9, 1, 0, 0, 0],  # correct
        [9, 8, 7, 6, 5, 1],  # wrong, label third (in top-5)
    ], dtype=torch.float32)
    m = classification_metrics(logits, torch.tensor([0, 0, 1, 2]))
    assert m["acc1"] == pytest.approx(50.0)
    assert m["acc5"] == pytest.approx(100.0)
    assert m["mean_per_class_recall"] == pytest.approx(100 * (0.5 + 1 + 0) / 3)


def test_top5_with_fewer_classes_is_topC():
    m = classification_metrics(torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([0]))
    assert m["acc1"] == 0.0 and m["acc5"] == 100.0
