"""The run's progress reporter: tasks advance, a status (a training loss) shows after the description."""
from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from zsbench.harness.core.progress import Reporter


def test_task_advances_and_shows_status():
    progress = Progress(console=Console(file=io.StringIO()))
    reporter = Reporter(progress)
    advance = reporter.task("training prompts", total=4)
    advance(1)
    advance(2, status="loss 0.5000")
    (task,) = progress.tasks
    assert task.completed == 3
    assert task.description == "training prompts (loss 0.5000)"
    advance()
    assert task.completed == 4 and task.description == "training prompts"


def test_disabled_reporter_accepts_the_same_calls():
    advance = Reporter(None).task("anything", total=2)
    assert advance(1, status="loss 1.0") is None
