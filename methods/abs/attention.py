"""DINO attention maps for methods that choose where to look (ABS).

The ABS reference takes the last-layer CLS-to-patch attention of DINO ViT-B/16
(``facebook/dino-vitb16``), averaged over heads, on the image squashed to 224x224 (the Hugging Face
DINO processor: PIL bilinear resize to 224x224, ImageNet mean/std). We load the same weights through
timm (``vit_base_patch16_224.dino``), which open_clip already depends on, and compute only the CLS
row of the last block's attention. Weights come from a local file or the local Hugging Face cache,
never from the network; without them the error says what to provide.

(The other attention source, the evaluated CLIP's own last block, needs no extra model: see
:func:`zsbench.harness.models.vit.last_block_cls_attention`.)
"""
from __future__ import annotations

from pathlib import Path

import torch

from zsbench.methods.abs.resampling import CropTransform
from zsbench.methods.abs.geometry import Frame
from zsbench.harness.models.loading import ModelLoadError

DINO_TIMM_NAME = "vit_base_patch16_224.dino"
DINO_HF_REPO = "timm/vit_base_patch16_224.dino"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class AttentionWeightsError(ModelLoadError):
    """DINO weights that cannot be found or loaded; the message says what to pass."""


def _missing_weights_message() -> str:
    return (
        f"attention=dino needs DINO ViT-B/16 weights (timm {DINO_TIMM_NAME!r}, Hugging Face repo {DINO_HF_REPO}), "
        "which are not in the local Hugging Face cache and are never downloaded during a run. Either download them once "
        f"on a connected machine (python -c \"import timm; timm.create_model('{DINO_TIMM_NAME}', pretrained=True)\") and "
        "copy ~/.cache/huggingface to this one, or pass --set attention_weights=PATH to a local timm checkpoint of "
        f"{DINO_TIMM_NAME} (.safetensors, or DINO's dino_vitbase16_pretrain.pth), or use the evaluated CLIP's own "
        "attention with --set attention=clip."
    )


def load_dino(weights: str = "") -> torch.nn.Module:
    """timm's DINO ViT-B/16 in eval mode. ``weights``: a checkpoint path, ``""`` (the local Hugging Face
    cache only) or ``"random"`` (untrained: benchmarks and tests)."""
    import timm

    if weights == "random":
        return timm.create_model(DINO_TIMM_NAME, pretrained=False).eval()
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise AttentionWeightsError(f"--set attention_weights={weights}: no such file. {_missing_weights_message()}")
    else:
        from huggingface_hub import try_to_load_from_cache

        found = [try_to_load_from_cache(DINO_HF_REPO, name) for name in ("model.safetensors", "pytorch_model.bin")]
        found = [p for p in found if isinstance(p, str)]
        if not found:
            raise AttentionWeightsError(_missing_weights_message())
        path = Path(found[0])
    try:
        model = timm.create_model(DINO_TIMM_NAME, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
    except Exception as err:
        raise AttentionWeightsError(f"cannot load DINO weights from {path} into {DINO_TIMM_NAME} "
                                    f"({type(err).__name__}: {err}). {_missing_weights_message()}") from err
    return model.eval()


@torch.no_grad()
def timm_vit_cls_attention(model: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """``[B, N_patches]`` last-block CLS-to-patch attention of a timm ViT, averaged over heads (the
    softmax row of the CLS query only; what Hugging Face returns as ``attentions[-1][:, :, 0, 1:]``)."""
    x = model.patch_embed(pixels)
    x = model._pos_embed(x)
    x = model.patch_drop(x)
    x = model.norm_pre(x)
    for block in model.blocks[:-1]:
        x = block(x)
    block = model.blocks[-1]
    y = block.norm1(x)
    attn = block.attn
    b, n, _ = y.shape
    qkv = attn.qkv(y).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])
    weights = ((q[:, :, :1] * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # [B, heads, 1, N]
    return weights[:, :, 0, model.num_prefix_tokens:].float().mean(dim=1)


class DinoAttention:
    """DINO's head-averaged last-layer CLS attention on the 14x14 grid of the image squashed to 224 px."""

    size = 224
    grid = 14
    squash = True

    def __init__(self, weights: str = "", device: torch.device | str = "cpu", model: torch.nn.Module | None = None):
        self.device = torch.device(device)
        self.model = (model if model is not None else load_dino(weights)).to(self.device).eval()
        self.transform = CropTransform(self.size, IMAGENET_MEAN, IMAGENET_STD, kernel="bilinear", squash=True)

    def pixels(self, images: list[torch.Tensor]) -> torch.Tensor:
        """uint8 ``[3, H, W]`` images -> DINO input ``[B, 3, 224, 224]`` (squashed, like the HF processor)."""
        return torch.cat([self.transform(im.to(self.device), torch.tensor([[0, 0, im.shape[2], im.shape[1]]]))
                          for im in images])

    @torch.no_grad()
    def __call__(self, images: list[torch.Tensor]) -> torch.Tensor:
        """``[B, 196]`` attention maps (flat, row-major) of uint8 images."""
        return timm_vit_cls_attention(self.model, self.pixels(images))

    def frames(self, images: list[torch.Tensor]) -> list[Frame]:
        return [Frame.squash(int(im.shape[2]), int(im.shape[1]), self.size) for im in images]
