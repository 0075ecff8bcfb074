"""What a suite is: a named group of datasets and the averages its leaderboard table reports (no
torch, so that suites can be listed and checked cheaply)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Suite:
    """``averages`` maps a column name to the datasets it averages, following the papers (e.g. the
    OOD average is over the four ImageNet variants, not ImageNet itself). Where few-shot methods
    train is each dataset's own ``fewshot_from``, not the suite's."""

    name: str
    datasets: tuple[str, ...]
    averages: tuple[tuple[str, tuple[str, ...]], ...] = ()
    description: str = ""
