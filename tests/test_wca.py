"""WCA: the description and crop weightings against direct computations of the reference's formulas
(``helper.py`` zeroshot_classifier with tt_scale, ``main.py`` the ``ours`` branch), the crop
geometry, the faithful crop bound, and bad hyperparameters."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from zsbench.harness.core.config import ConfigError, build_config
from zsbench.methods.wca import WCA, square_crops, weighted_crop_embedding, weighted_text_embeddings


def test_text_weighting_is_the_references():
    g = torch.Generator().manual_seed(0)
    descs = [F.normalize(torch.randn(n, 5, generator=g, dtype=torch.float64), dim=-1) for n in (3, 7)]
    labels = F.normalize(torch.randn(2, 5, generator=g, dtype=torch.float64), dim=-1)
    got = weighted_text_embeddings(descs, labels, 2.0)
    for c in range(2):
        w = torch.softmax(torch.exp(torch.tensor(2.0, dtype=torch.float64)) * (descs[c] @ labels[c]), 0)
        e = (descs[c] * w[:, None]).sum(0)
        assert torch.allclose(got[c], e / e.norm(), atol=1e-12)


def test_crop_weighting_is_the_references():
    g = torch.Generator().manual_seed(1)
    crops = F.normalize(torch.randn(3, 60, 5, generator=g, dtype=torch.float64), dim=-1)
    glob = F.normalize(torch.randn(3, 5, generator=g, dtype=torch.float64), dim=-1)
    got = weighted_crop_embedding(crops, glob, 4.0)
    for b in range(3):
        s = torch.tensor([float(crops[b, k] @ glob[b]) for k in range(60)], dtype=torch.float64)
        w = torch.softmax(s * math.exp(4.0), 0)
        e = (crops[b] * w[:, None]).sum(0)
        assert torch.allclose(got[b], e / e.norm(), atol=1e-12)


def test_crops_are_squares_inside_the_image_with_the_drawn_sides():
    boxes = square_crops(120, 80, 500, 0.1, 0.9, torch.Generator().manual_seed(0))
    side = boxes[:, 2] - boxes[:, 0]
    assert torch.equal(side, boxes[:, 3] - boxes[:, 1])
    assert int(side.min()) >= int(0.1 * 80) and int(side.max()) <= int(0.9 * 80)
    assert int(boxes[:, 0].min()) >= 0 and int(boxes[:, 1].min()) >= 0
    assert int(boxes[:, 2].max()) <= 120 and int(boxes[:, 3].max()) <= 80
    assert torch.equal(boxes, square_crops(120, 80, 500, 0.1, 0.9, torch.Generator().manual_seed(0)))


def test_faithful_crop_bound():
    assert WCA().crop_low() == 0.1  # the reference's random_crop default, not the config's alpha
    assert WCA(build_config("wca", WCA.Config, {"faithful": "false"})).crop_low() == 0.5


@pytest.mark.parametrize("overrides", [{"patch_n": "0"}, {"n_samples": "0"}, {"crop_max": "0.05"},
                                       {"faithful": "false", "crop_alpha": "0.95"}, {"n_descriptions": "0"}])
def test_bad_hyperparameters_fail(overrides):
    with pytest.raises(ConfigError):
        build_config("wca", WCA.Config, overrides)
