"""Access to an open_clip ViT's internals that methods need: the tokens entering the last block,
the last block's CLS-to-patch attention, and the head that turns tokens into an embedding."""
from __future__ import annotations

import torch


def grid_size(visual) -> int:
    return int(visual.grid_size[0])


def tokens_before_last_block(visual, pixels: torch.Tensor) -> torch.Tensor:
    """[B, 1 + G*G, width] tokens at the input of the last transformer block."""
    x = visual._embeds(pixels)
    for block in visual.transformer.resblocks[:-1]:
        x = block(x)
    return x


def last_block_cls_attention(visual, tokens: torch.Tensor) -> torch.Tensor:
    """[B, G*G] CLS-to-patch attention of the last block, averaged over heads."""
    block = visual.transformer.resblocks[-1]
    y = block.ln_1(tokens)
    _, weights = block.attn(y, y, y, need_weights=True, average_attn_weights=True)
    return weights[:, 0, 1:]


def finish_from_last_block(visual, tokens: torch.Tensor) -> torch.Tensor:
    """Run the last block, pooling, ``ln_post`` and projection: [B, embed_dim] (unnormalised)."""
    x = visual.transformer.resblocks[-1](tokens)
    pooled, _ = visual._pool(x)
    return pooled @ visual.proj if visual.proj is not None else pooled


def cls_attention_map(visual, pixels: torch.Tensor) -> torch.Tensor:
    """[B, G, G] last-layer CLS attention over the patch grid (the evaluated CLIP's own map)."""
    g = grid_size(visual)
    return last_block_cls_attention(visual, tokens_before_last_block(visual, pixels)).view(-1, g, g)
