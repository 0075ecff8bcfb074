"""One rich progress display per run: an overall bar ("evaluation k of N", with its ETA) that stays,
and one transient bar for the current step (encoding, training, fitting), named after the
evaluation it serves (method / dataset / seed) and removed when it finishes, so bars never pile up.
Messages (a finished evaluation, a skipped one with its stored accuracy, "loading model ...") print
above the bars."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


class Reporter:
    """``reporter.task(description, total)`` returns ``advance(n=1, status=None)``; a ``status``
    (e.g. a training loss) is shown after the description, the current step's label (``step``)
    before it. A finished task's bar is removed. ``overall(total)`` starts the run's one lasting
    bar. Safe to call when disabled."""

    def __init__(self, progress: Progress | None):
        self._progress = progress
        self._step = ""  # "method / dataset / seed N" of the evaluation being computed
        self._overall = None  # task id of the overall bar

    def task(self, description: str, total: int) -> Callable[..., None]:
        if self._progress is None:
            return lambda n=1, status=None: None
        label = f"{self._step}: {description}" if self._step else description
        progress, task_id = self._progress, self._progress.add_task(label, total=total)
        done = [0]

        def advance(n: int = 1, status: str | None = None) -> None:
            done[0] += n
            if done[0] >= total:
                if task_id in progress.task_ids:
                    progress.remove_task(task_id)
                return
            progress.update(task_id, advance=n, description=label if status is None else f"{label} ({status})")

        return advance

    __call__ = task

    def overall(self, total: int) -> None:
        """Start (or restart) the lasting bar over the run's ``total`` evaluations."""
        if self._progress is None:
            return
        if self._overall is not None:
            self._progress.remove_task(self._overall)
        self._overall = self._progress.add_task(f"evaluation 0 of {total}", total=total)

    def evaluation_done(self, what: str) -> None:
        """One evaluation finished (or was skipped): advance the overall bar and say which."""
        if self._progress is None or self._overall is None:
            return
        task = next(t for t in self._progress.tasks if t.id == self._overall)
        k = int(task.completed) + 1
        self._progress.update(self._overall, advance=1,
                              description=f"evaluation {k} of {int(task.total)} (last: {what})")

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        """Name the bars of what runs inside after ``label`` (method / dataset / seed)."""
        previous, self._step = self._step, label
        try:
            yield
        finally:
            self._step = previous

    def log(self, message: str) -> None:
        (self._progress.console if self._progress else console).print(message, highlight=False)

    @property
    def overall_task(self):
        """The overall bar's rich task, or None (for tests and the CLI)."""
        if self._progress is None or self._overall is None:
            return None
        return next(t for t in self._progress.tasks if t.id == self._overall)


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
