"""``zsbench toy train``: train toy-clip with the committed config and write the artifact
(weights, tokenizer merges, manifest with content hashes) that a fresh install evaluates with."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from safetensors.torch import save

from zsbench.harness.core.atomic import atomic_write
from zsbench.harness.core.hashing import file_sha256

from . import model as toy_model
from .domains import GENERATOR_VERSION
from .train import TrainConfig, train


@torch.no_grad()
def zero_shot_val(model, tokenizer) -> dict[str, float]:
    """Zero-shot top-1 (%) on every toy domain's val split, with the evaluation templates."""
    from .domains import DOMAINS
    from .text import EVAL_TEMPLATES
    from .train import MEAN, STD

    out = {}
    for domain in DOMAINS:
        images, labels, _ = domain.generate("val")
        feats = model.encode_image((images.float() / 255 - MEAN) / STD, normalize=True)
        prompts = model.encode_text(tokenizer([t.format(c) for c in domain.classes for t in EVAL_TEMPLATES]), normalize=True)
        weights = torch.nn.functional.normalize(prompts.view(len(domain.classes), len(EVAL_TEMPLATES), -1).mean(1), dim=-1)
        out[domain.name] = round(100 * ((feats @ weights.T).argmax(1) == labels).float().mean().item(), 1)
    return out


def train_and_save(steps: int | None = None, output_dir: Path | None = None, console=None, eval_every: int = 0,
                   cfg: TrainConfig | None = None) -> dict:
    cfg = cfg or TrainConfig()
    cfg = cfg if steps is None else dataclasses.replace(cfg, steps=steps)
    out_dir = Path(output_dir) if output_dir else toy_model.HERE
    out_dir.mkdir(parents=True, exist_ok=True)
    bpe_path = out_dir / toy_model.BPE_PATH.name
    with atomic_write(bpe_path) as f:
        f.write(toy_model.bpe_file_bytes())
    start = time.perf_counter()
    with Progress(TextColumn("[bold]training toy-clip"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.3f}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task("train", total=cfg.steps, loss=float("nan"))
        tokenizer = toy_model.tokenizer()

        def report(model, step):
            progress.console.print(f"step {step}: zero-shot val top-1 % {zero_shot_val(model, tokenizer)}")

        model = train(cfg, on_step=lambda step, loss: progress.update(task, advance=1, loss=loss),
                      evaluate=report if eval_every else None, eval_every=eval_every)
    seconds = time.perf_counter() - start
    weights_path = out_dir / toy_model.WEIGHTS_PATH.name
    with atomic_write(weights_path) as f:
        f.write(save({k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()},
                     metadata={"train_config_hash": cfg.hash()}))
    manifest = {
        "model": toy_model.MODEL_NAME,
        "generator_version": GENERATOR_VERSION,
        "train_config": dataclasses.asdict(cfg),
        "train_config_hash": cfg.hash(),
        "train_seconds": round(seconds, 1),
        "torch_version": torch.__version__,
        "weights_sha256": file_sha256(weights_path),
        "bpe_sha256": file_sha256(bpe_path),
        "config_sha256": file_sha256(toy_model.CONFIG_PATH),
    }
    with atomic_write(out_dir / toy_model.MANIFEST_PATH.name) as f:
        f.write((json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    if console is not None:
        console.print(f"trained toy-clip in {seconds:.0f} s ({cfg.steps} steps); wrote {weights_path} "
                      f"({weights_path.stat().st_size / 1e6:.2f} MB, sha256 {manifest['weights_sha256'][:12]})")
    return manifest
