"""ABS stage by stage against slow versions written here from the formulas (and from the reference
code's expressions): raw crop boxes and pixels, feature-space crop features, soft-matching logits;
the whole image path against a slow per-crop composition; determinism by seed; bounded memory; DINO
attention; and the CLI end to end on the toy world."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms as T
from typer.testing import CliRunner

import zsbench
from zsbench.harness.core.config import ConfigError, build_config
from zsbench.methods.abs.geometry import Frame, crop_boxes, remap_cells, sample_cells, window_bounds
from zsbench.methods.abs.resampling import CropTransform, pil_resample_matrices, torch_bicubic_matrices
from zsbench.harness.core.registry import DATASETS
from zsbench.harness.models.vit import finish_from_last_block, grid_size, last_block_cls_attention, tokens_before_last_block
from zsbench.methods.abs.method import ABS, CropPlan, pad_descriptions, soft_matching
from zsbench.methods.base import MethodInputs

# --------------------------------------------------------------------------------------------------
# raw crops: boxes


def _reference_patch_centre(idx: int, W: int, H: int, crop_size: int = 14, patch_size: int = 16):
    """main.py custom_loader, verbatim arithmetic (0-dim tensors, as the reference has them)."""
    sampled_index = torch.tensor(idx)
    i, j = sampled_index // crop_size, sampled_index % crop_size
    patch_x_min = int(j * patch_size * (W / (crop_size * patch_size)))
    patch_y_min = int(i * patch_size * (H / (crop_size * patch_size)))
    patch_x_max = min(patch_x_min + int(patch_size * (W / (crop_size * patch_size))), W)
    patch_y_max = min(patch_y_min + int(patch_size * (H / (crop_size * patch_size))), H)
    return (patch_x_min + patch_x_max) // 2, (patch_y_min + patch_y_max) // 2


@pytest.mark.parametrize("W,H", [(500, 375), (333, 500), (640, 427), (224, 224), (1000, 667), (37, 1000), (4032, 3024)])
def test_patch_centres_match_reference_arithmetic(W, H):
    frame = Frame.squash(W, H, 224)
    idx = torch.arange(196)
    cx, cy = frame.patch_centres(idx, 14)
    ref = [_reference_patch_centre(i, W, H) for i in range(196)]
    assert cx.tolist() == [r[0] for r in ref] and cy.tolist() == [r[1] for r in ref]


def test_crop_boxes_match_reference_for_fixed_centres_and_sizes():
    W, H = 500, 375
    cx = torch.tensor([10, 250, 490, 100, 499, 0])
    cy = torch.tensor([5, 180, 370, 300, 0, 374])
    w = torch.tensor([300, 301, 449, 350, 420, 333])
    h = torch.tensor([225, 226, 337, 300, 250, 299])
    boxes = crop_boxes(cx, cy, w, h, W, H, faithful=True)
    for k in range(len(cx)):  # main.py: x_min = max(cx - w // 2, 0), x_max = min(cx + w // 2, W)
        c_x, c_y, cw, ch = (int(t[k]) for t in (cx, cy, w, h))
        ref = (max(c_x - cw // 2, 0), max(c_y - ch // 2, 0), min(c_x + cw // 2, W), min(c_y + ch // 2, H))
        assert tuple(boxes[k].tolist()) == ref
    exact = crop_boxes(cx, cy, w, h, W, H, faithful=False)
    assert (exact[1, 2] - exact[1, 0]).item() == 301 and (boxes[1, 2] - boxes[1, 0]).item() == 300  # even-size quirk


def test_centre_crop_frame_maps_cells_into_the_centre_region_and_back():
    frame = Frame.centre_crop(500, 250, 224)  # resized to 448x224, centre 224 columns = original 125..375
    cx, cy = frame.patch_centres(torch.arange(196), 14)
    assert cx.min() >= 125 and cx.max() <= 375 and cy.min() >= 0 and cy.max() <= 250
    assert torch.equal(frame.to_grid(cx, cy, 14), torch.arange(196))
    assert Frame.centre_crop(300, 300, 224) == Frame.squash(300, 300, 224)


# --------------------------------------------------------------------------------------------------
# raw crops: pixels


def _pil_clip_crop(img: Image.Image, box, size: int, resample) -> np.ndarray:
    """Crop, resize the shorter side to ``size`` (int(size * long / short)), centre crop
    (round((new - size) / 2)): torchvision's Resize + CenterCrop on a PIL image, written out."""
    c = img.crop(tuple(box))
    w, h = c.size
    nw, nh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    r = c.resize((nw, nh), resample)
    left, top = int(round((nw - size) / 2.0)), int(round((nh - size) / 2.0))
    return np.asarray(r.crop((left, top, left + size, top + size))).astype(np.float32)


def _random_image(w: int, h: int, seed: int = 0) -> Image.Image:
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(0, 256, (3, h // 4 + 1, w // 4 + 1), generator=g, dtype=torch.uint8)
    smooth = F.interpolate(base[None].float(), size=(h, w), mode="bilinear")[0]  # some structure, some noise
    noisy = (smooth + torch.randn(3, h, w, generator=g) * 20).clamp(0, 255).round().byte()
    return Image.fromarray(noisy.permute(1, 2, 0).numpy())


@pytest.mark.parametrize("kernel,resample", [("bicubic", Image.BICUBIC), ("bilinear", Image.BILINEAR)])
def test_batched_crop_pixels_match_pil(kernel, resample):
    img = _random_image(97, 71)
    tensor = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)
    boxes = torch.tensor([[0, 0, 97, 71], [10, 5, 70, 60], [30, 0, 97, 40], [0, 20, 41, 71], [5, 5, 37, 29], [50, 30, 60, 33]])
    for size in (32, 64):  # down- and upscaling
        out = CropTransform(size, (0, 0, 0), (1, 1, 1), kernel).pixels(tensor, boxes)
        ref = np.stack([_pil_clip_crop(img, b.tolist(), size, resample) for b in boxes]).transpose(0, 3, 1, 2)
        diff = (out - torch.from_numpy(ref)).abs()
        assert diff.max() <= 2 and diff.mean() < 0.05, (size, diff.max(), diff.mean())  # PIL rounds in fixed point


def test_pil_matrices_rows_sum_to_one_and_stay_inside_the_crop():
    m = pil_resample_matrices(torch.tensor([3, 0]), torch.tensor([20, 50]), torch.tensor([40, 10]), torch.tensor([5, 0]), 10, 60)
    assert torch.allclose(m.sum(-1), torch.ones(2, 10), atol=1e-6)
    assert m[0, :, :3].abs().sum() == 0 and m[0, :, 23:].abs().sum() == 0


def test_crop_transform_reads_open_clip_preprocess_and_matches_it(toy_model):
    transform = CropTransform.from_preprocess(toy_model.preprocess)
    assert transform == CropTransform(64, (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711), "bicubic")
    img = _random_image(64, 64, seed=3)
    boxes = torch.tensor([[0, 0, 64, 64], [8, 4, 50, 60], [20, 20, 58, 51]])
    fast = transform(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1), boxes)
    slow = torch.stack([toy_model.preprocess(img.crop(tuple(b))) for b in boxes.tolist()])
    assert (fast - slow).abs().max() < 2.5 / 255 / 0.26  # within 2 uint8 levels
    assert CropTransform.from_preprocess(T.Compose([T.RandomResizedCrop(32), T.ToTensor()])) is None


# --------------------------------------------------------------------------------------------------
# feature-space crops


def test_bicubic_window_matrices_equal_interpolate():
    g = torch.Generator().manual_seed(0)
    grid = 14
    x = torch.randn(grid, grid, 5, generator=g)
    starts = torch.tensor([0, 3, 5, 2, 0])
    lengths = torch.tensor([14, 9, 9, 11, 13])
    m = torch_bicubic_matrices(starts, lengths, grid, grid)
    for k in range(len(starts)):
        s, n = int(starts[k]), int(lengths[k])
        window = x[s:s + n, :, :].permute(2, 0, 1)[None]  # resize rows only
        ref = F.interpolate(window, size=(grid, grid), mode="bicubic", align_corners=False)[0].permute(1, 2, 0)
        assert torch.allclose(torch.einsum("oi,ijd->ojd", m[k], x), ref, atol=1e-5)


def test_window_bounds_odd_sizes_quirk():
    centre, grid = torch.tensor([5, 5, 5, 5, 5, 0, 13]), 14
    sizes = torch.tensor([8, 9, 10, 11, 12, 12, 8])
    start, length = window_bounds(centre, sizes, grid, faithful=True)
    assert length.tolist() == [9, 9, 11, 11, 12, 7, 5] and start.tolist() == [1, 1, 0, 0, 0, 0, 9]  # s=12 at 5: [0, 12)
    start, length = window_bounds(centre, sizes, grid, faithful=False)
    assert length.tolist() == [8, 9, 10, 11, 11, 6, 5]


def _slow_feature_crop_features(visual, tokens, windows):
    """clip/model.py forward_with_attention, one window at a time: slice rows [r0, r1) and columns
    [c0, c1) of the patch grid, bicubic resize to G x G, the full image's CLS token first, last block,
    ln_post on the CLS token, projection, normalise."""
    grid = grid_size(visual)
    width = tokens.shape[-1]
    cls, patches = tokens[:1], tokens[1:].view(grid, grid, width)
    out = []
    for r0, r1, c0, c1 in windows:
        crop = patches[r0:r1, c0:c1].permute(2, 0, 1)[None]
        resized = F.interpolate(crop, size=(grid, grid), mode="bicubic", align_corners=False)[0].permute(1, 2, 0)
        x = torch.cat([cls, resized.reshape(grid * grid, width)])[None]
        x = visual.transformer.resblocks[-1](x)
        out.append(F.normalize(visual.ln_post(x[:, 0]) @ visual.proj, dim=-1)[0])
    return torch.stack(out)


def _fast_feature_crop_features(method, visual, tokens, plan, grid):
    return method._encode(lambda x: finish_from_last_block(visual, x), method.feature_crop_tokens(tokens, plan, grid))


@torch.no_grad()
def test_feature_crop_features_match_slow_version_for_fixed_windows(toy_model):
    visual = toy_model.model.visual
    grid = grid_size(visual)
    img = _random_image(64, 64, seed=1)
    tokens = tokens_before_last_block(visual, toy_model.preprocess(img)[None])[0]
    centres_and_sizes = [(3, 3, 4), (0, 0, 5), (7, 7, 6), (2, 6, 7), (4, 1, 5)]
    # the reference: half = s // 2; [max(0, c - half), min(G, c + half + 1))
    windows = [(max(0, r - s // 2), min(grid, r + s // 2 + 1), max(0, c - s // 2), min(grid, c + s // 2 + 1))
               for r, c, s in centres_and_sizes]
    rows, cols, sizes = (torch.tensor(v) for v in zip(*centres_and_sizes))
    rs, rl = window_bounds(rows, sizes, grid)
    cs, cl = window_bounds(cols, sizes, grid)
    fast = _fast_feature_crop_features(ABS(), visual, tokens, CropPlan(torch.zeros(0, 4), rs, rl, cs, cl), grid)
    slow = _slow_feature_crop_features(visual, tokens, windows)
    assert torch.allclose(fast, slow, atol=1e-5), (fast - slow).abs().max()


def test_remap_cells_matches_reference_maps():
    idx = torch.arange(196)
    row, col = idx // 14, idx % 14
    assert torch.equal(remap_cells(idx, 14, 7), (row // 2) * 7 + col // 2)  # map_index_14_to_7
    assert torch.equal(remap_cells(idx, 14, 16), (row * 16 // 14) * 16 + col * 16 // 14)  # map_index_14_to_16
    assert torch.equal(remap_cells(idx, 14, 14), idx)


# --------------------------------------------------------------------------------------------------
# soft matching


def _reference_soft_matching(patch_embeds, zeroshot_weights, temperature=0.03):
    """main.py's 'ours' branch, verbatim tensor algebra (equal description counts)."""
    b, crop_num, embed_dim = patch_embeds.shape
    num_classes, num_descriptions, _ = zeroshot_weights.shape
    sim = (patch_embeds.reshape(-1, embed_dim) @ zeroshot_weights.reshape(-1, embed_dim).t()) / temperature
    sim = sim.reshape(b, crop_num, num_classes, num_descriptions).view(b, crop_num, -1)
    soft = sim.log_softmax(dim=-1).exp()
    weighted = (soft * sim).reshape(b, crop_num, num_classes, num_descriptions)
    return weighted.sum(dim=-1).sum(dim=1)


def _unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_soft_matching_equals_reference_for_fixed_features():
    crops, text = _unit(3, 7, 16, seed=1), _unit(11, 5, 16, seed=2)
    valid = torch.ones(11, 5, dtype=torch.bool)
    ref = _reference_soft_matching(crops, text)
    for chunk in (1 << 24, 3 * 7 * 5 * 2, 1):  # one chunk, several, one class at a time
        assert torch.allclose(soft_matching(crops, text, valid, max_chunk_elements=chunk), ref, rtol=1e-5, atol=1e-4)


def test_soft_matching_padding_per_class_and_weights():
    crops, text = _unit(2, 4, 8, seed=3), _unit(5, 6, 8, seed=4)
    counts = [6, 2, 4, 1, 6]
    valid = torch.arange(6)[None] < torch.tensor(counts)[:, None]
    s = torch.einsum("bkd,cnd->bkcn", crops, text) / 0.03
    # joint softmax over the real (class, description) pairs only
    flat = torch.cat([s[:, :, c, :n] for c, n in enumerate(counts)], dim=-1)
    p = flat.softmax(-1)
    splits = torch.split(p * flat, counts, dim=-1)
    joint_ref = torch.stack([x.sum(-1) for x in splits], dim=-1)  # [b, k, c]
    assert torch.allclose(soft_matching(crops, text, valid, max_chunk_elements=9), joint_ref.sum(1), atol=1e-4)
    per_class_ref = torch.stack([(s[:, :, c, :n].softmax(-1) * s[:, :, c, :n]).sum(-1) for c, n in enumerate(counts)], -1)
    assert torch.allclose(soft_matching(crops, text, valid, joint=False), per_class_ref.sum(1), atol=1e-4)
    w = torch.softmax(torch.randn(2, 4), dim=1)
    assert torch.allclose(soft_matching(crops, text, valid, crop_weights=w), (joint_ref * w[..., None]).sum(1), atol=1e-4)


def test_pad_descriptions():
    feats = torch.arange(12.0).view(6, 2)
    out, valid = pad_descriptions(feats, [1, 3, 2])
    assert out.shape == (3, 3, 2) and valid.tolist() == [[True, False, False], [True, True, True], [True, True, False]]
    assert torch.equal(out[1], feats[1:4]) and torch.equal(out[0, 1:], torch.zeros(2, 2))


def test_soft_matching_imagenet_scale_memory_is_bounded():
    """ImageNet: 1000 classes x 50 descriptions; 16 images x 100 crops would need 320 MB per
    similarity tensor unchunked (the reference materialises [100, 100, 50000]); ours stays small."""
    code = textwrap.dedent("""
        import resource, torch
        from zsbench.methods.abs.method import soft_matching
        torch.set_num_threads(2)
        crops = torch.nn.functional.normalize(torch.randn(16, 100, 64), dim=-1)
        text = torch.nn.functional.normalize(torch.randn(1000, 50, 64), dim=-1)
        valid = torch.ones(1000, 50, dtype=torch.bool)
        soft_matching(crops[:1, :2], text[:2], valid[:2])  # warm up allocator and kernels
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out = soft_matching(crops, text, valid)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert out.shape == (16, 1000) and torch.isfinite(out).all()
        print((after - before) / 1024)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    extra_mb = float(res.stdout.strip().splitlines()[-1])
    assert extra_mb < 300, f"soft matching used {extra_mb:.0f} MB extra"


# --------------------------------------------------------------------------------------------------
# the whole image path


@pytest.fixture(scope="module")
def toy_a():
    dataset = DATASETS.get("toy-a")(None)
    return dataset, dataset.split("test").subset(range(3))


def _fitted(toy_model, dataset, seed=1, **config):
    from zsbench.harness.models.text_encoding import TextEncoder

    method = ABS(ABS.Config(**config))
    inputs = MethodInputs(dataset=dataset, model=toy_model, text=TextEncoder(toy_model), seed=seed, shots=0)
    inputs.descriptions = method.load_descriptions(dataset)
    method.fit(inputs)
    return method, inputs


@torch.no_grad()
def test_image_path_equals_slow_per_crop_composition(toy_model, toy_a):
    """One image: the same plan (drawn from a generator seeded like the run) evaluated crop by crop,
    with PIL crops through the model's own preprocess and encode_image, the slow feature-crop path
    and the reference's soft-matching algebra, gives the same logits."""
    dataset, split = toy_a
    method, inputs = _fitted(toy_model, dataset, num_crops=6, num_feature_crops=5, n_descriptions=5)
    fast = method.logits_from_images(split.subset([0]), inputs)[0]

    visual = toy_model.model.visual
    img = split.image(0)
    tokens = tokens_before_last_block(visual, toy_model.preprocess(img)[None])
    attention = last_block_cls_attention(visual, tokens)[0]
    frame = Frame.centre_crop(64, 64, 64)
    plan = method.plan(attention, 8, frame, frame, 8, torch.Generator().manual_seed(1))
    raw = F.normalize(toy_model.model.encode_image(
        torch.stack([toy_model.preprocess(img.crop(tuple(b))) for b in plan.boxes.tolist()])), dim=-1)
    windows = [(int(rs), int(rs + rl), int(cs), int(cs + cl))
               for rs, rl, cs, cl in zip(plan.row_start, plan.row_len, plan.col_start, plan.col_len)]
    feat = _slow_feature_crop_features(visual, tokens[0], windows)
    slow = _reference_soft_matching(torch.cat([feat, raw])[None], method.text)[0]  # toy: >= 5 descriptions per class
    # PIL's fixed-point rounding only: an error relative to the logits' size (they reach ~100 here)
    assert torch.allclose(fast, slow, rtol=1e-3, atol=0.01), (fast - slow).abs().max()


@torch.no_grad()
def test_same_seed_same_crops_and_logits_whatever_the_batching(toy_model, toy_a):
    dataset, split = toy_a
    method, inputs = _fitted(toy_model, dataset, seed=1, num_crops=8, num_feature_crops=8)
    a = method.logits_from_images(split, inputs)
    method.images_per_batch = 1
    b = method.logits_from_images(split, inputs)
    assert torch.allclose(a, b, atol=1e-3)
    inputs.seed = 2
    c = method.logits_from_images(split, inputs)
    assert not torch.allclose(a, c, atol=1e-3)
    assert a.shape == (3, dataset.n_classes) and torch.isfinite(a).all()


def test_cells_are_drawn_from_top_k_with_softmax_probabilities():
    attention = torch.zeros(196)
    attention[[20, 100, 150]] = torch.tensor([1.0, 0.9, 0.5])
    cells = sample_cells(attention, 3, 0.03, 4000, torch.Generator().manual_seed(0))
    p = torch.softmax(torch.tensor([1.0, 0.9, 0.5]) / 0.03, 0)
    freq = torch.stack([(cells == c).float().mean() for c in (20, 100, 150)])
    assert set(cells.tolist()) <= {20, 100, 150} and torch.allclose(freq, p, atol=0.02)


@pytest.mark.parametrize("faithful", [True, False])
def test_plan_geometry(faithful):
    method = ABS(ABS.Config(num_crops=300, num_feature_crops=300, top_k=3, faithful=faithful))
    attention = torch.zeros(196)
    attention[[105, 91, 106]] = torch.tensor([1.0, 0.99, 0.98])  # near the centre: windows rarely clamped
    dino_frame, clip_frame = Frame.squash(500, 375, 224), Frame.centre_crop(500, 375, 224)
    plan = method.plan(attention, 14, dino_frame, clip_frame, 14, torch.Generator().manual_seed(0))
    # raw crops: centred on the cells' patch-box centres in original pixels, sizes within the scale range
    cx, cy = dino_frame.patch_centres(torch.tensor([105, 91, 106]), 14)
    b = plan.boxes
    inside = (b[:, 0] > 0) & (b[:, 2] < 500) & (b[:, 1] > 0) & (b[:, 3] < 375)
    assert inside.sum() > 10
    centres = set(zip(((b[:, 0] + b[:, 2]) // 2)[inside].tolist(), ((b[:, 1] + b[:, 3]) // 2)[inside].tolist()))
    assert centres <= set(zip(cx.tolist(), cy.tolist()))
    w, h = (b[:, 2] - b[:, 0])[inside], (b[:, 3] - b[:, 1])[inside]
    assert w.min() >= 300 - 1 and w.max() <= 450 and h.min() >= 225 - 1 and h.max() <= 337
    # feature windows: DINO's cells used as CLIP cells (faithful) or mapped through the pixels
    cells = torch.tensor([105, 91, 106])
    expect = cells if faithful else clip_frame.to_grid(cx, cy, 14)
    rows, cols = plan.row_start, plan.col_start
    free = (rows > 0) & (rows + plan.row_len < 14) & (cols > 0) & (cols + plan.col_len < 14)
    half = plan.row_len // 2
    got = set(((rows + half) * 14 + plan.col_start + plan.col_len // 2)[free].tolist())
    assert free.sum() > 10 and got <= set(expect.tolist())
    lengths = set(plan.row_len[free].tolist())
    assert lengths <= ({9, 11, 13} if faithful else {8, 9, 10, 11, 12})


def test_config_validation_is_a_config_error():
    with pytest.raises(ConfigError, match="attention"):
        build_config("abs", ABS.Config, {"attention": "vit"})
    with pytest.raises(ConfigError, match="crop_scale"):
        build_config("abs", ABS.Config, {"crop_scale": "0.9,0.6"})
    cfg = build_config("abs", ABS.Config, {"crop_scale": "0.5,0.8", "faithful": "false"})
    assert cfg.crop_scale == (0.5, 0.8) and cfg.faithful is False


def test_imagenet_variants_score_all_1000_classes_when_faithful():
    from zsbench.datasets.base import Dataset

    ds = Dataset("imagenet-a", ["goldfish", "tench"], ["{}"], ["{}"], {}, "test", imagenet_indices=[1, 0])
    space, out = ABS().label_space(ds)
    assert len(space.classnames) == 1000 and out == [1, 0]
    space, out = ABS(ABS.Config(faithful=False)).label_space(ds)
    assert space.classnames == ["goldfish", "tench"] and out is None


# --------------------------------------------------------------------------------------------------
# DINO attention


@torch.no_grad()
def test_dino_attention_is_the_head_mean_cls_row_of_the_last_block(tmp_path):
    import timm
    from safetensors.torch import save_file

    from zsbench.methods.abs.attention import DINO_TIMM_NAME, DinoAttention, load_dino

    torch.manual_seed(0)
    model = timm.create_model(DINO_TIMM_NAME, pretrained=False).eval()
    path = tmp_path / "dino.safetensors"
    save_file(model.state_dict(), str(path))
    loaded = load_dino(str(path))
    assert torch.equal(loaded.blocks[-1].attn.qkv.weight, model.blocks[-1].attn.qkv.weight)

    captured = {}
    last = model.blocks[-1].attn
    last.fused_attn = False
    last.attn_drop.register_forward_hook(lambda mod, inp, out: captured.setdefault("attn", out))
    img = _random_image(120, 90, seed=5)
    dino = DinoAttention(model=model)
    pixels = dino.pixels([torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)])
    model.forward_features(pixels)
    ref = captured["attn"][:, :, 0, 1:].mean(1)
    fast = dino([torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)])
    assert fast.shape == (1, 196) and torch.allclose(fast, ref, atol=1e-6)
    # the Hugging Face DINO processor: PIL bilinear squash to 224x224, ImageNet mean/std
    hf = torch.from_numpy(np.asarray(img.resize((224, 224), Image.BILINEAR)).astype(np.float32) / 255).permute(2, 0, 1)
    hf = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))(hf)
    assert (pixels[0] - hf).abs().max() < 2.5 / 255 / 0.224


def test_dino_without_weights_says_what_to_pass(monkeypatch, tmp_path):
    from zsbench.methods.abs.attention import AttentionWeightsError, load_dino

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    with pytest.raises(AttentionWeightsError) as err:
        load_dino("")
    assert "--set attention_weights=PATH" in str(err.value) and "--set attention=clip" in str(err.value)
    with pytest.raises(AttentionWeightsError, match="no such file"):
        load_dino(str(tmp_path / "missing.pth"))


@torch.no_grad()
def test_abs_with_dino_attention_on_toy_grid(toy_model, toy_a):
    import timm

    dataset, split = toy_a
    torch.manual_seed(0)
    dino = timm.create_model("vit_base_patch16_224.dino", pretrained=False).eval()
    method = ABS(ABS.Config(attention="dino", num_crops=4, num_feature_crops=4, n_descriptions=4))
    from zsbench.harness.models.text_encoding import TextEncoder

    inputs = MethodInputs(dataset=dataset, model=toy_model, text=TextEncoder(toy_model), seed=1, shots=0)
    inputs.descriptions = method.load_descriptions(dataset)
    lists = [s[:4] for s in inputs.descriptions.per_class]
    method.use_text(*pad_descriptions(inputs.text.encode([s for g in lists for s in g]), [len(g) for g in lists]))
    method.prepare(toy_model, dino_model=dino)
    logits = method.logits_from_images(split.subset([0, 1]), inputs)
    assert logits.shape == (2, dataset.n_classes) and torch.isfinite(logits).all()


# --------------------------------------------------------------------------------------------------
# end to end through the CLI


def test_cli_runs_abs_and_description_baselines_on_toy(tmp_path):
    from zsbench.harness.cli.app import app

    res = CliRunner().invoke(app, ["run", "--method", "abs,clip-d,cupl,waffle", "--dataset", "toy-a,toy-fine", "--limit", "6",
                                   "--latency-images", "2", "--seeds", "1", "--set", "abs.num_crops=6",
                                   "--set", "abs.num_feature_crops=6", "--results-dir", str(tmp_path / "results"), "--no-progress"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    df = zsbench.load_results(tmp_path / "results")
    assert len(df) == 8 and set(df["method"]) == {"abs", "clip-d", "cupl", "waffle"}
    row = df[(df["method"] == "abs") & (df["dataset"] == "toy-a")].iloc[0]
    assert json.loads(row["config_json"])["num_crops"] == 6 and row["seed"] == 1 and row["n_images"] == 6
    assert json.loads(row["config_json"])["attention"] == "auto" and row["out_abs_attention"] == "clip"  # auto resolved, recorded
    assert (df["latency_ms_per_image"] > 0).all()


def test_cli_abs_with_dino_offline_is_one_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants as hc

    from zsbench.harness.cli.app import app

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    res = CliRunner().invoke(app, ["run", "--method", "abs", "--dataset", "toy-a", "--limit", "2", "--seeds", "1",
                                   "--set", "attention=dino", "--results-dir", str(tmp_path / "results"), "--no-progress"])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "--set attention_weights=PATH" in text and "--set attention=clip" in text and "Traceback" not in res.output
