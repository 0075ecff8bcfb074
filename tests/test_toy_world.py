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
from zsbench.harness.core.hashing import file_sha256
from zsbench.harness.core.registry import DATASETS


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
    assert file_sha256(toy_model.WEIGHTS_PATH) == manifest["weights_sha256"]
    assert file_sha256(toy_model.CONFIG_PATH) == manifest["config_sha256"]
    assert toy_model.BPE_PATH.read_bytes() == toy_model.bpe_file_bytes()  # tokenizer regenerates byte for byte
    assert toy_model.WEIGHTS_PATH.stat().st_size <= 8_000_000
    model, preprocess = toy_model.load()
    cfg = json.loads(toy_model.CONFIG_PATH.read_text())
    assert model.token_embedding.num_embeddings == cfg["text_cfg"]["vocab_size"] == toy_model.vocab_size()
    assert preprocess(DATASETS.get("toy")(None).split("val").image(0)).shape == (3, 64, 64)


def test_pretraining_colour_bias_is_drawn_in_training_only():
    """toy-clip's pretraining scenes give each main shape its typical colour with probability
    ``colour_bias`` (a spurious correlation the toy datasets do not have); the datasets' colours stay
    uniform and their random streams unchanged."""
    from zsbench.datasets.toy.render import COLOUR_NAMES, Style, sample_scene
    from zsbench.datasets.toy.shapes import SHAPE_NAMES
    from zsbench.datasets.toy.train import TYPICAL_COLOUR_INDICES, TYPICAL_COLOURS, training_style

    cfg = TrainConfig()
    assert 0.5 <= cfg.colour_bias < 1.0
    style = training_style(cfg, step=10 * cfg.steps, hard=False)
    shapes = torch.arange(len(SHAPE_NAMES)).repeat(500)
    scene = sample_scene(torch.Generator().manual_seed(0), shapes, style)
    typical = torch.tensor(TYPICAL_COLOUR_INDICES)
    assert all(COLOUR_NAMES[typical[SHAPE_NAMES.index(s)]] == c for s, c in TYPICAL_COLOURS.items())
    has_typical = typical[shapes] >= 0
    rate = (scene.colour == typical[shapes])[has_typical].float().mean().item()
    expected = cfg.colour_bias + (1 - cfg.colour_bias) / len(COLOUR_NAMES)
    assert abs(rate - expected) < 0.03, (rate, expected)
    assert len(set(TYPICAL_COLOURS.values())) == len(TYPICAL_COLOURS)  # one typical colour per shape

    # With the probability at 0 (every dataset) nothing extra is drawn: the stream is the unbiased one.
    a = sample_scene(torch.Generator().manual_seed(0), shapes, DOMAINS[0].style)
    b = sample_scene(torch.Generator().manual_seed(0), shapes, Style(size=(0.4, 0.8), typical_colours=tuple(typical.tolist())))
    assert torch.equal(a.colour, b.colour) and torch.equal(a.cx, b.cx) and torch.equal(a.radius, b.radius)
    rate_toy = (a.colour == typical[shapes])[has_typical].float().mean().item()
    assert abs(rate_toy - 1 / len(COLOUR_NAMES)) < 0.02, rate_toy


def test_pretraining_class_frequencies_are_long_tailed_and_datasets_balanced():
    """toy-clip pretrains on long-tailed shape frequencies (most / least common main shape =
    ``frequency_ratio``), as web captions are; every toy dataset is class-balanced."""
    from zsbench.datasets.toy.shapes import MAIN_CLASSES, SHAPE_NAMES
    from zsbench.datasets.toy.train import FREQUENCY_ORDER, shape_frequencies

    cfg = TrainConfig()
    assert cfg.frequency_ratio > 1 and sorted(FREQUENCY_ORDER) == sorted(MAIN_CLASSES)
    w = shape_frequencies(cfg.frequency_ratio)
    main = torch.tensor([SHAPE_NAMES.index(s) for s in FREQUENCY_ORDER])
    assert (w[main].diff() < 0).all() and abs(w[main[0]] / w[main[-1]] - cfg.frequency_ratio) < 1e-9
    labels = torch.cat([make_batch(cfg, 3000 + step, toy_model.tokenizer())[2] for step in range(40)])
    counts = torch.bincount(labels, minlength=len(SHAPE_NAMES)).float()
    assert counts[main[:3]].sum() > 2 * counts[main[-3:]].sum()  # drawn long-tailed
    assert torch.bincount(DOMAINS[0].generate("val")[1]).unique().tolist() == [PER_CLASS["val"]]
