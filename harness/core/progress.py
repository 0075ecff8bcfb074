"""One rich progress display per run; every stage (encoding, training, evaluation) adds a task."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


class Reporter:
    """``reporter.task(description, total)`` returns ``advance(n=1, status=None)``; a ``status``
    (e.g. a training loss) is shown after the description. Safe to call when disabled."""

    def __init__(self, progress: Progress | None):
        self._progress = progress

    def task(self, description: str, total: int) -> Callable[..., None]:
        if self._progress is None:
            return lambda n=1, status=None: None
        progress, task_id = self._progress, self._progress.add_task(description, total=total)

        def advance(n: int = 1, status: str | None = None) -> None:
            shown = description if status is None else f"{description} ({status})"
            progress.update(task_id, advance=n, description=shown)

        return advance

    __call__ = task

    def log(self, message: str) -> None:
        (self._progress.console if self._progress else console).print(message)


@contextmanager
def reporting(enabled: bool = True) -> Iterator[Reporter]:
    if not enabled:
        yield Reporter(None)
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=console,
    )
    with progress:
        yield Reporter(progress)
