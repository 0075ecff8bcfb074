"""The benchmark suites and the averages their leaderboard tables report, as in the papers: the OOD
average is over the four ImageNet variants (not ImageNet itself), the fine-grained average over all
11 CoOp datasets including ImageNet. Where few-shot methods train is each dataset's own
``fewshot_from`` (ImageNet for its variants, ``toy`` for its shifted copies).

Importing this module imports no torch: suites are declared by dataset name."""
from __future__ import annotations

from zsbench.harness.core.registry import register_suite

from .builtin import TOY_DATASETS
from .records import RECORDS
from .suite import Suite

IMAGENET_VARIANTS = ("imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r")
OOD = ("imagenet", *IMAGENET_VARIANTS)
COOP_11 = (
    "imagenet", "caltech101", "oxford-pets", "stanford-cars", "flowers102", "food101",
    "fgvc-aircraft", "sun397", "dtd", "eurosat", "ucf101",
)
OOD_AVERAGE = ("OOD average", IMAGENET_VARIANTS)

register_suite("ood")(Suite(
    "ood", OOD, averages=(OOD_AVERAGE,),
    description="ImageNet and its four shifted variants; few-shot methods train on ImageNet only",
))
register_suite("fine-grained")(Suite(
    "fine-grained", COOP_11, averages=(("Average", COOP_11),),
    description="CoOp's 11 datasets (ImageNet and 10 fine-grained sets, Zhou splits)",
))
register_suite("abs-paper")(Suite(
    "abs-paper", (*OOD, "cub", "oxford-pets", "dtd", "food101", "places365"), averages=(OOD_AVERAGE,),
    description="the datasets the ABS paper reports: the ImageNet family, CUB, Pets, DTD, Food101, Places365",
))
register_suite("all")(Suite("all", tuple(RECORDS), description="every catalogued real dataset"))
register_suite("toy")(Suite(
    name="toy",
    datasets=TOY_DATASETS,
    averages=(("shift avg", ("toy-v2", "toy-sketch", "toy-r", "toy-a")),),
    description="The offline toy world: generated shapes; toy-v2/-sketch/-r/-a mirror the ImageNet variants, "
                "toy-fine is fine-grained. Model: toy-clip (committed weights).",
))
