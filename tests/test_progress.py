"""The run's progress reporter: one lasting overall bar, transient step bars named after the
evaluation they serve, a status after the description."""
from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from zsbench.harness.core.progress import Reporter


def test_task_advances_shows_status_and_is_removed_when_finished():
    progress = Progress(console=Console(file=io.StringIO()))
    reporter = Reporter(progress)
    advance = reporter.task("training prompts", total=4)
    advance(1)
    advance(2, status="loss 0.5000")
    (task,) = progress.tasks
    assert task.completed == 3
    assert task.description == "training prompts (loss 0.5000)"
    advance()
    assert progress.tasks == []  # finished bars do not pile up


def test_overall_bar_counts_evaluations_and_step_bars_name_method_dataset_seed():
    progress = Progress(console=Console(file=io.StringIO()))
    reporter = Reporter(progress)
    reporter.overall(3)
    assert reporter.overall_task.description == "evaluation 0 of 3"
    with reporter.step("gda / toy / seed 2"):
        advance = reporter.task("GDA fit", 3)
        assert [t.description for t in progress.tasks][1] == "gda / toy / seed 2: GDA fit"
        advance(1, status="class means")
        assert progress.tasks[1].description == "gda / toy / seed 2: GDA fit (class means)"
        advance(2)
    reporter.evaluation_done("gda / toy / seed 2")
    assert [t.description for t in progress.tasks] == ["evaluation 1 of 3 (last: gda / toy / seed 2)"]
    assert progress.tasks[0].completed == 1 and progress.tasks[0].total == 3  # rich's ETA column reads these
    assert reporter.task("after the step", 1) and progress.tasks[-1].description == "after the step"


def test_disabled_reporter_accepts_the_same_calls():
    reporter = Reporter(None)
    advance = reporter.task("anything", total=2)
    assert advance(1, status="loss 1.0") is None
    reporter.overall(2)
    reporter.evaluation_done("x")
    with reporter.step("clip / toy / seed 0"):
        pass
    assert reporter.overall_task is None
