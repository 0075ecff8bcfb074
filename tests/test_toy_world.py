"""The toy world: deterministic, class-balanced splits; distinct domains; a vocabulary the
tokenizer encodes word by word; descriptions in CuPL format; and a committed toy-clip artifact
that matches its training config and loads."""
from __future__ import annotations

import json

import torch

from zsbench.datasets.toy import model as toy_model
from zsbench.datasets.toy import text as toy_text
from zsbench.datasets.toy.domains import DOMAINS, PER_CLASS
from zsbench.datasets.toy.train import TrainConfig, make_batch
from zsbench.harness.registry import DATASETS


def test_splits_are_deterministic_and_balanced():
    domain = DOMAINS[0]
    a_img, a_lab, a_box = domain.generate("val")
    b_img, b_lab, b_box = domain.generate("val")
    assert torch.equal(a_img, b_img) and torch.equal(a_lab, b_lab) and torch.equal(a_box, b_box)
    assert a_img.shape == (PER_CLASS["val"] * 12, 3, 64, 64) and a_img.dtype == torch.uint8
    assert torch.bincount(a_lab).tolist() == [PER_CLASS["val"]] * 12
    assert not torch.equal(domain.generate("test")[0][:10], a_img[:10])  # splits differ


def test_domains_look_different():
    means = {}
    for d in DOMAINS:
        img = d.generate("val")[0].float()
        means[d.name] = (img.mean().item(), img.std(dim=1).mean().item())  # brightness, colourfulness
    assert means["toy-sketch"][0] > 200 and means["toy-sketch"][1] < 3  # light paper, no colour
    assert means["toy-r"][0] < means["toy"][0]  # dark vivid renditions
    assert len({m for m in means.values()}) == len(DOMAINS)


def test_registered_dataset_matches_domain():
    ds = DATASETS.get("toy-fine")(None)
    assert ds.classnames == ["four-pointed star", "five-pointed star", "six-pointed star", "seven-pointed star", "eight-pointed star"]
    split = ds.split("test")
    assert len(split) == 5 * PER_CLASS["test"]
    img, label = split[0]
    assert img.size == (64, 64) and img.mode == "RGB" and label == int(split.labels[0])
    assert ds.default_model == "toy-clip"
    assert DATASETS.get("toy-a")(None).fewshot_from == "toy"


def test_every_word_is_one_token():
    tok = toy_model.tokenizer()
    for word in toy_text.vocabulary():
        ids = tok([word])[0]
        assert int((ids > 0).sum()) == 3, word  # <start>, word, <end>


def test_evaluation_templates_never_appear_in_training_captions():
    cfg = TrainConfig()
    tok = toy_model.tokenizer()
    seen = set()
    for step in range(3):
        _, tokens, _ = make_batch(cfg, step, tok)
        seen |= {tuple(t.tolist()) for t in tokens}
    from zsbench.datasets.toy.shapes import SHAPE_NAMES

    eval_prompts = {tuple(t.tolist()) for t in tok([tpl.format(c) for tpl in toy_text.EVAL_TEMPLATES for c in SHAPE_NAMES])}
    assert not (seen & eval_prompts)


def test_descriptions_are_cupl_format_with_informative_and_generic_sentences():
    desc = toy_text.descriptions(["circle", "triangle"])
    assert set(desc) == {"circle", "triangle"}
    assert all(isinstance(s, str) for s in desc["circle"])
    assert "a triangle has three sides." in desc["triangle"] and "a triangle can be any colour." in desc["triangle"]
    json.dumps(desc)


def test_committed_artifact_matches_its_training_config_and_loads():
    manifest = toy_model.manifest()
    assert manifest["train_config"] == json.loads(json.dumps(TrainConfig().__dict__))
    assert manifest["train_config_hash"] == TrainConfig().hash()
    assert toy_model.sha256(toy_model.WEIGHTS_PATH) == manifest["weights_sha256"]
    assert toy_model.sha256(toy_model.CONFIG_PATH) == manifest["config_sha256"]
    assert toy_model.BPE_PATH.read_bytes() == toy_model.bpe_file_bytes()  # tokenizer regenerates byte for byte
    assert toy_model.WEIGHTS_PATH.stat().st_size <= 8_000_000
    model, preprocess = toy_model.load()
    cfg = json.loads(toy_model.CONFIG_PATH.read_text())
    assert model.token_embedding.num_embeddings == cfg["text_cfg"]["vocab_size"] == toy_model.vocab_size()
    assert preprocess(DATASETS.get("toy")(None).split("val").image(0)).shape == (3, 64, 64)
