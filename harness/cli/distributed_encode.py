"""The torchrun entry point of data-parallel encoding (``harness.scaleout.distributed_encode``)::

    torchrun --nproc-per-node K -m zsbench.harness.cli.distributed_encode encode --model M --dataset D
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zsbench.harness.cli.app import friendly
from zsbench.harness.scaleout.distributed_encode import encode_distributed

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Data-parallel feature encoding of one encode unit, under torchrun.")


@app.callback()
def _commands() -> None:
    """Data-parallel feature encoding of one encode unit, under torchrun (or as one process)."""


@app.command()
@friendly
def encode(
    dataset: str = typer.Option(..., "--dataset", help="The dataset whose test split is encoded."),
    model: Optional[str] = typer.Option(None, "--model", help="open_clip model name, hf-hub:ID, or toy-clip (default: the dataset's default, else ViT-B-16)."),
    pretrained: Optional[str] = typer.Option(None, "--pretrained", help="Pretrained tag, checkpoint PATH, or hf-hub:ID (default: openai for ViT-B-16)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="The fixed subset of N test images `zsbench run --limit N` evaluates."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Root of local datasets (default: $ZSBENCH_DATA)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Feature cache shared by every rank (default: $ZSBENCH_CACHE or ~/.cache/zsbench)."),
    batch_size: str = typer.Option("auto", "--batch-size", help="Images per batch (as `zsbench run` uses it), or auto."),
    precision: str = typer.Option("fp32", "--precision", help="fp32|fp16|bf16 (autocast on CUDA)"),
    device: str = typer.Option("auto", "--device", help="auto|cpu|cuda: on CUDA rank r uses cuda:LOCAL_RANK."),
    workers: str = typer.Option("auto", "--workers", help="DataLoader workers per rank, or auto: one process's share for each rank of the node."),
    threads: str = typer.Option("auto", "--threads", help="torch threads per rank, or auto: the CPUs divided by the node's ranks."),
):
    """Encode a dataset's test split into the feature cache, batches shared among torchrun's ranks."""
    report = encode_distributed(dataset, model, pretrained, limit, data_root, cache_dir, batch_size, precision, device,
                                workers, threads)
    for line in report.lines():
        print(line, flush=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
