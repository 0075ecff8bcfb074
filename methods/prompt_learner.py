"""CoOp/CoCoOp prompt learners over an open_clip text tower (reference: KaiyangZhou/CoOp,
``trainers/coop.py`` and ``trainers/cocoop.py``).

A prompt is the token embeddings of ``"X X ... X {class}."`` (or ``"{ctx_init} {class}."``) with the
``n_ctx`` context positions replaced by learnable vectors: ``[SOS] ctx_1..ctx_M [class tokens] . [EOS]``.
Context vectors are generic (shared by all classes) or class-specific (``csc``), initialised from
N(0, 0.02^2) or, with ``ctx_init``, from the token embeddings of those words (``n_ctx`` is then the
number of words). The class tokens go at the ``end`` (default), in the ``middle`` of the context or
at the ``front``. The text feature is the transformer output at the EOT position, after
``ln_final`` and the projection, exactly as open_clip's ``encode_text``; the sequence is cut after
the last EOT of the batch (a causal tower's EOT output does not depend on the padding after it,
see ``zsbench.harness.models.text_encoding``). Only the learner's parameters train; the model is frozen.

CoCoOp adds a Meta-Net ``Linear(d, d // 16) -> ReLU -> Linear(d // 16, ctx_dim)`` from the
normalised image feature to a bias added to every context vector, so each image gets its own
prompts for all classes.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Iterator, Literal, Sequence, get_args

import torch
import torch.nn as nn

from zsbench.harness.models.text_encoding import eot_positions

ClassTokenPosition = Literal["end", "middle", "front"]  # where the class name goes relative to the context
POSITIONS = get_args(ClassTokenPosition)


def check_text_tower(model: nn.Module) -> None:
    missing = [a for a in ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection")
               if not hasattr(model, a)]
    if missing or getattr(model, "text_pool_type", "argmax") not in ("argmax", "eos"):
        raise ValueError("prompt learning needs an open_clip CLIP text tower (token_embedding, positional_embedding, "
                         "transformer, ln_final, text_projection, EOT pooling); this model has "
                         f"{type(model).__name__} (missing: {', '.join(missing) or 'EOT pooling'})")


def encode_prompt_embeddings(model: nn.Module, prompts: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """[B, D] text features (unnormalised) of prompt embeddings [B, L, W] whose token ids are
    ``tokens`` [B, L] (used for the EOT positions): open_clip's ``encode_text`` from the embeddings on."""
    eot = eot_positions(model, tokens)
    causal = getattr(model, "attn_mask", None) is not None
    length = int(eot.max()) + 1 if causal else prompts.shape[1]
    cast = model.transformer.get_cast_dtype()
    x = prompts[:, :length].to(cast) + model.positional_embedding[:length].to(cast)
    mask = model.attn_mask[:length, :length] if causal else None
    x = model.transformer(x, attn_mask=mask)
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), eot.to(x.device)]
    proj = model.text_projection
    if proj is not None:
        x = proj(x) if isinstance(proj, nn.Linear) else x @ proj
    return x


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """The model's parameters with ``requires_grad`` off for the block (restored after), so that
    backward computes gradients for the prompt learner only."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


class PromptLearner(nn.Module):
    """CoOp's prompt learner. ``forward()`` -> prompt embeddings [n_cls, L, W]; ``tokenized_prompts``
    [n_cls, L] gives the EOT positions."""

    def __init__(self, model: nn.Module, tokenizer, classnames: Sequence[str], n_ctx: int = 16, ctx_init: str = "",
                 csc: bool = False, class_token_position: str = "end", init_std: float = 0.02,
                 generator: torch.Generator | None = None):
        super().__init__()
        check_text_tower(model)
        if class_token_position not in POSITIONS:
            raise ValueError(f"class_token_position={class_token_position!r}: choose one of {', '.join(POSITIONS)}")
        device = model.token_embedding.weight.device
        ctx_dim = model.ln_final.weight.shape[0]
        n_cls = len(classnames)
        if ctx_init:
            ctx_init = ctx_init.replace("_", " ")
            n_ctx = len(ctx_init.split(" "))
            with torch.no_grad():
                embedding = model.token_embedding(tokenizer([ctx_init]).to(device)).float()
            ctx = embedding[0, 1:1 + n_ctx].clone()
            csc = False  # as the reference: an initialised context is always generic
            prefix_words = ctx_init
        else:
            if n_ctx < 1:
                raise ValueError(f"n_ctx={n_ctx}: need at least one context vector")
            ctx = torch.empty((n_cls, n_ctx, ctx_dim) if csc else (n_ctx, ctx_dim))
            ctx.normal_(0.0, init_std, generator=generator)
            ctx = ctx.to(device)
            prefix_words = " ".join(["X"] * n_ctx)
        self.ctx = nn.Parameter(ctx)
        self.csc = csc
        self.n_cls, self.n_ctx = n_cls, n_ctx
        self.class_token_position = class_token_position
        self.classnames = [c.replace("_", " ") for c in classnames]
        self.prefix_words = prefix_words

        tokens = tokenizer([f"{prefix_words} {c}." for c in self.classnames]).to(device)
        name_tokens = tokenizer(list(self.classnames)).to(device)
        self.name_lens = [int(p) - 1 for p in eot_positions(model, name_tokens)]
        if not ctx_init:
            placeholder = tokenizer(["X"])[0, 1].item()
            if not bool((tokens[:, 1:1 + n_ctx] == placeholder).all()):
                raise ValueError("the tokenizer does not encode each 'X' of the context as one token")
        needed = 1 + n_ctx + max(self.name_lens) + 2  # SOS, context, class, '.', EOS
        if needed > tokens.shape[1]:
            raise ValueError(f"a prompt of {n_ctx} context tokens and the longest class name needs {needed} tokens; "
                             f"the text context holds {tokens.shape[1]}")
        with torch.no_grad():
            embedding = model.token_embedding(tokens).float()
        self.register_buffer("token_prefix", embedding[:, :1].clone(), persistent=False)  # SOS
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx:].clone(), persistent=False)  # class, '.', EOS, pad
        self.register_buffer("tokenized_prompts", tokens, persistent=False)

    def context(self) -> torch.Tensor:
        """[n_cls, n_ctx, W] the context of every class."""
        return self.ctx.unsqueeze(0).expand(self.n_cls, -1, -1) if self.ctx.dim() == 2 else self.ctx

    def construct(self, ctx: torch.Tensor) -> torch.Tensor:
        """Prompts [n_cls, L, W] from per-class context [n_cls, n_ctx, W], per class token position."""
        prefix, suffix = self.token_prefix, self.token_suffix
        if self.class_token_position == "end":
            return torch.cat([prefix, ctx, suffix], dim=1)
        half = self.n_ctx // 2
        out = []
        for i, name_len in enumerate(self.name_lens):
            name, rest = suffix[i:i + 1, :name_len], suffix[i:i + 1, name_len:]
            if self.class_token_position == "middle":
                parts = [prefix[i:i + 1], ctx[i:i + 1, :half], name, ctx[i:i + 1, half:], rest]
            else:  # front
                parts = [prefix[i:i + 1], name, ctx[i:i + 1], rest]
            out.append(torch.cat(parts, dim=1))
        return torch.cat(out, dim=0)

    def forward(self) -> torch.Tensor:
        return self.construct(self.context())

    def text_features(self, model: nn.Module) -> torch.Tensor:
        """[n_cls, D] unnormalised text features of the current prompts."""
        return encode_prompt_embeddings(model, self(), self.tokenized_prompts)

    def learned_state(self) -> dict[str, torch.Tensor]:
        """What training changes (the class-independent part, cacheable): context and Meta-Net."""
        return {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}


class CoCoOpPromptLearner(PromptLearner):
    """CoCoOp: generic context + a per-image bias from the Meta-Net. ``forward(image_features [B, d])``
    -> prompts [B, n_cls, L, W]."""

    def __init__(self, model: nn.Module, tokenizer, classnames: Sequence[str], n_ctx: int = 4,
                 ctx_init: str = "a photo of a", init_std: float = 0.02, generator: torch.Generator | None = None):
        super().__init__(model, tokenizer, classnames, n_ctx=n_ctx, ctx_init=ctx_init, csc=False,
                         class_token_position="end", init_std=init_std, generator=generator)
        vis_dim = _image_dim(model)
        ctx_dim = self.ctx.shape[-1]
        self.meta_net = nn.Sequential(OrderedDict([
            ("linear1", nn.Linear(vis_dim, vis_dim // 16)),
            ("relu", nn.ReLU(inplace=True)),
            ("linear2", nn.Linear(vis_dim // 16, ctx_dim)),
        ]))
        if generator is not None:  # the default init (kaiming-uniform weights, uniform bias), seeded
            for layer in (self.meta_net.linear1, self.meta_net.linear2):
                bound = 1.0 / layer.in_features ** 0.5
                with torch.no_grad():
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.uniform_(-bound, bound, generator=generator)
        self.meta_net.to(self.ctx.device)

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        bias = self.meta_net(image_features).unsqueeze(1)  # [B, 1, W]
        shifted = self.ctx.unsqueeze(0) + bias  # [B, n_ctx, W]
        b = shifted.shape[0]
        ctx = shifted.unsqueeze(1).expand(b, self.n_cls, -1, -1)  # [B, n_cls, n_ctx, W]
        prefix = self.token_prefix.unsqueeze(0).expand(b, -1, -1, -1)
        suffix = self.token_suffix.unsqueeze(0).expand(b, -1, -1, -1)
        return torch.cat([prefix, ctx, suffix], dim=2)

    def text_features(self, model: nn.Module, image_features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """[B, n_cls, D] unnormalised text features of each image's prompts."""
        prompts = self(image_features)
        b = prompts.shape[0]
        tokens = self.tokenized_prompts.unsqueeze(0).expand(b, -1, -1).reshape(b * self.n_cls, -1)
        feats = encode_prompt_embeddings(model, prompts.reshape(b * self.n_cls, *prompts.shape[2:]), tokens)
        return feats.view(b, self.n_cls, -1)


def _image_dim(model: nn.Module) -> int:
    visual = getattr(model, "visual", None)
    dim = getattr(visual, "output_dim", None)
    if dim is None:
        proj = model.text_projection
        dim = proj.out_features if isinstance(proj, nn.Linear) else proj.shape[1]
    return int(dim)
