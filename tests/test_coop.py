"""CoOp/CoCoOp: the prompt learner reproduces open_clip's text encoding for hand-set contexts (all
class-token positions, class-specific contexts, a CLIP tokenizer), the schedule and batching
follow the reference (Dassl), training lowers the loss, and prompts are cached and reused."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import open_clip
import pytest
import torch
import torch.nn.functional as F

from zsbench.harness.models.loading import LoadedModel
from zsbench.harness.metrics.classification import harmonic_mean
from zsbench.harness.evaluation.runner import Runner, RunSpec
from zsbench.methods.coop import (
    CoOp,
    class_halves,
    default_epochs,
    epoch_batches,
    lr_at,
    train_prompts,
)
from zsbench.methods.prompt_learner import CoCoOpPromptLearner, PromptLearner

TOY_CLASSES = ["circle", "five-pointed star", "heart"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and the machine is shared
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def clip_b32() -> LoadedModel:
    """A randomly initialised ViT-B-32 with the real CLIP tokenizer (77 tokens, multi-token words)."""
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32").eval()
    return LoadedModel(model, None, open_clip.get_tokenizer("ViT-B-32"), "ViT-B-32", "none", "random", torch.device("cpu"), "fp32")


def word_embeddings(loaded: LoadedModel, words: str) -> torch.Tensor:
    """[n, W] token embeddings of ``words`` (between SOS and EOS)."""
    tokens = loaded.tokenizer([words])
    n = int(tokens.argmax(-1)) - 1
    with torch.no_grad():
        return loaded.model.token_embedding(tokens)[0, 1:1 + n].float()


def encoded(loaded: LoadedModel, prompts: list[str]) -> torch.Tensor:
    with torch.no_grad():
        return loaded.model.encode_text(loaded.tokenizer(prompts)).float()


@pytest.mark.parametrize("which", ["toy", "clip"])
def test_ctx_set_to_a_photo_of_a_gives_the_encoded_prompt(which, toy_model, clip_b32):
    loaded = toy_model if which == "toy" else clip_b32
    names = TOY_CLASSES if which == "toy" else ["golden retriever", "tench", "a very long multi word class name"]
    learner = PromptLearner(loaded.model, loaded.tokenizer, names, n_ctx=4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        learner.ctx.copy_(word_embeddings(loaded, "a photo of a"))
        got = learner.text_features(loaded.model)
    want = encoded(loaded, [f"a photo of a {c}." for c in names])
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
    # ctx_init builds the same prompts directly
    init = PromptLearner(loaded.model, loaded.tokenizer, names, ctx_init="a photo of a")
    assert init.n_ctx == 4 and init.ctx.shape[0] == 4
    with torch.no_grad():
        assert torch.allclose(init.text_features(loaded.model), want, atol=1e-5)


@pytest.mark.parametrize("position, template", [("middle", "a photo {} of a."), ("front", "{} a photo of a.")])
def test_class_token_positions(position, template, toy_model):
    learner = PromptLearner(toy_model.model, toy_model.tokenizer, TOY_CLASSES, n_ctx=4, class_token_position=position)
    with torch.no_grad():
        learner.ctx.copy_(word_embeddings(toy_model, "a photo of a"))
        got = learner.text_features(toy_model.model)
    want = encoded(toy_model, [template.format(c) for c in TOY_CLASSES])
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_class_specific_contexts(toy_model):
    contexts = ["a photo of", "there is a", "an image of"]
    learner = PromptLearner(toy_model.model, toy_model.tokenizer, TOY_CLASSES, n_ctx=3, csc=True)
    assert learner.ctx.shape[:2] == (3, 3)
    with torch.no_grad():
        for i, words in enumerate(contexts):
            learner.ctx[i].copy_(word_embeddings(toy_model, words))
        got = learner.text_features(toy_model.model)
    want = encoded(toy_model, [f"{ctx} {c}." for ctx, c in zip(contexts, TOY_CLASSES)])
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_cocoop_with_a_zero_meta_net_is_the_initial_prompt(toy_model):
    learner = CoCoOpPromptLearner(toy_model.model, toy_model.tokenizer, TOY_CLASSES, generator=torch.Generator().manual_seed(1))
    assert learner.n_ctx == 4 and learner.meta_net.linear1.out_features == learner.meta_net.linear1.in_features // 16
    with torch.no_grad():
        learner.meta_net.linear2.weight.zero_()
        learner.meta_net.linear2.bias.zero_()
        images = F.normalize(torch.randn(2, learner.meta_net.linear1.in_features), dim=-1)
        got = learner.text_features(toy_model.model, images)
    want = encoded(toy_model, [f"a photo of a {c}." for c in TOY_CLASSES])
    assert got.shape == (2, 3, want.shape[1])
    assert torch.allclose(got[0], want, atol=1e-5) and torch.allclose(got[1], want, atol=1e-5)


def test_random_init_is_seeded_and_small(toy_model):
    a = PromptLearner(toy_model.model, toy_model.tokenizer, TOY_CLASSES, generator=torch.Generator().manual_seed(3))
    b = PromptLearner(toy_model.model, toy_model.tokenizer, TOY_CLASSES, generator=torch.Generator().manual_seed(3))
    assert a.ctx.shape == (16, 128) and torch.equal(a.ctx, b.ctx)
    assert 0.015 < a.ctx.std().item() < 0.025


def test_lr_schedule_is_dassl_constant_warmup_then_cosine():
    max_epoch, base = 20, 0.002
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, float(max_epoch))  # Dassl's successor, recounted after warm-up
    expected = [1e-5]
    for _ in range(1, max_epoch):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        cosine.step()
    got = [lr_at(e, base, max_epoch, 1, 1e-5) for e in range(max_epoch)]
    assert got == pytest.approx(expected, rel=1e-9)
    assert got[1] == base and got[-1] == pytest.approx(0.5 * base * (1 + math.cos(math.pi * 18 / 20)))


def test_batches_drop_the_last_partial_batch_like_dassl():
    g = torch.Generator().manual_seed(0)
    batches = epoch_batches(70, 32, g)
    assert [len(b) for b in batches] == [32, 32] and len(set(torch.cat(batches).tolist())) == 64
    assert [len(b) for b in epoch_batches(12, 32, g)] == [12]  # fewer items than a batch: one partial batch


def test_epochs_by_shots_and_class_halves():
    assert [default_epochs(k, "default") for k in (1, 2, 4, 8, 16)] == [50, 100, 100, 200, 200]
    assert default_epochs(16, "imagenet") == 50
    assert class_halves(5, "base") == [0, 1, 2] and class_halves(5, "new") == [3, 4] and class_halves(4, "all") == [0, 1, 2, 3]
    assert harmonic_mean(80.0, 60.0) == pytest.approx(2 * 80 * 60 / 140) and harmonic_mean(0.0, 0.0) == 0.0


@dataclass
class _Cfg:
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epoch: int = 1
    warmup_cons_lr: float = 1e-5
    batch_size: int = 32


@pytest.mark.parametrize("conditional", [False, True])
def test_training_lowers_the_loss(conditional, toy_model):
    """Image features that are (noisy) text features of 'a photo of a {class}.': a learner started
    from a random context must find prompts that score them; the loss falls well below its start."""
    model = toy_model.model
    targets = F.normalize(encoded(toy_model, [f"a photo of a {c}." for c in TOY_CLASSES]), dim=-1)
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(16)
    epochs = 12
    views = F.normalize(targets[labels].expand(epochs, -1, -1) + 0.05 * torch.randn(epochs, 48, targets.shape[1], generator=g), dim=-1)
    if conditional:
        learner = CoCoOpPromptLearner(model, toy_model.tokenizer, TOY_CLASSES, ctx_init="", n_ctx=4, generator=g)
        cfg = _Cfg(batch_size=4, lr=0.02)
    else:
        learner = PromptLearner(model, toy_model.tokenizer, TOY_CLASSES, n_ctx=4, generator=g)
        cfg = _Cfg(batch_size=16)
    scale = 5.0  # a low temperature keeps the loss far from 0 whatever the toy weights

    def logits(x):
        if conditional:
            text = F.normalize(learner.text_features(model, x), dim=-1)
            return scale * torch.einsum("bd,bcd->bc", x, text)
        return scale * x @ F.normalize(learner.text_features(model), dim=-1).T

    before = [(p.detach().clone(), p.requires_grad) for p in model.parameters()]
    losses = train_prompts(learner, model, views, labels, logits, cfg, epochs, g)
    assert len(losses) == epochs
    assert losses[-1] < 0.8 * losses[0], losses
    for (value, flag), p in zip(before, model.parameters()):  # the model is frozen, its flags restored
        assert torch.equal(value, p) and p.requires_grad == flag


def _run(tmp_path: Path, methods: list[str], datasets: list[str], overrides: list[str], shots: int = 2, seeds=(1,)):
    spec = RunSpec(methods=methods, datasets=datasets, shots=shots, seeds=seeds, results_dir=tmp_path / "results",
                   cache_dir=tmp_path / "cache", overrides=overrides, device="cpu", latency_images=4, limit=60)
    return Runner(spec).run()


def test_prompts_are_trained_once_and_reused_on_the_shifted_domains(tmp_path):
    evaluations = _run(tmp_path, ["coop", "cocoop"], ["toy", "toy-a"], ["coop.max_epoch=3", "n_ctx=2", "cocoop.max_epoch=1"])
    rows = {(e.row["method"], e.row["dataset"]): e.row for e in evaluations}
    assert set(rows) == {(m, d) for m in ("coop", "cocoop") for d in ("toy", "toy-a")}
    assert len(list((tmp_path / "cache" / "prompts").rglob("*.pt"))) == 2  # one training per method, toy-a reused it
    assert all(0.0 <= r["acc1"] <= 100.0 and r["n_classes"] == 12 for r in rows.values())


def test_base_to_new_shares_one_training_on_the_base_classes(tmp_path, fewshot_inputs):
    base = CoOp(CoOp.Config(max_epoch=2, n_ctx=2, subsample="base"))
    new = CoOp(CoOp.Config(max_epoch=2, n_ctx=2, subsample="new"))
    base.fit(fewshot_inputs())
    new.fit(fewshot_inputs())
    assert base.class_subset == list(range(6)) and new.class_subset == list(range(6, 12))
    assert base.loss_history == new.loss_history
    assert len(list((tmp_path / "cache" / "prompts").rglob("*.pt"))) == 1
    assert base.classes == "base" and new.classes == "new" and base.extra_results["coop_epochs"] == 2
    feats = F.normalize(torch.randn(5, 128), dim=-1)
    assert base.logits_from_features(feats).shape == (5, 6) and new.logits_from_features(feats).shape == (5, 6)
    with pytest.raises(ValueError, match="class-specific"):
        CoOp(CoOp.Config(csc=True, subsample="new")).fit(fewshot_inputs())
