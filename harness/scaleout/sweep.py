"""``zsbench sweep``: one run's evaluations spread over job arrays with submitit, in two phases.

1. **encode**: an array of tasks, each ``zsbench run --phase encode --shard i/N``, fills the feature
   cache with the test splits' image features.
2. **evaluate**: an array of tasks, each ``--phase evaluate --shard i/N``, writes the results rows.
   On Slurm it starts when every encode task has ended well (``--dependency=afterok``).
3. **leaderboard**: rendered once, at the end. On Slurm this is one small job after the evaluate
   array. With the local and debug executors the sweep waits for its tasks and renders it itself.

Array tasks never render the leaderboard (``--no-leaderboard``). They share nothing but the results
folder and the feature cache, which are keyed by content and written atomically, and the claim
files (``harness.core.claims``). So any task may fail or be killed, and submitting the same sweep
again does only what is missing: finished evaluations are skipped, cached features are read, and
the claims of dead tasks are taken over.

Resources per phase (partition, time, GPUs, CPUs, memory, array parallelism, extra sbatch flags)
come from flags, which apply to the encode and evaluate phases, or from a JSON file with one
section per phase (``RESOURCE_KEYS``), which the flags override.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from zsbench.harness.core.errors import RunError
from zsbench.harness.evaluation.run_spec import RunSpec, default_leaderboard_path
from zsbench.harness.scaleout.units import ENCODE, EVALUATE

EXECUTORS = ("local", "slurm", "debug")
LEADERBOARD = "leaderboard"
SWEEP_PHASES = (ENCODE, EVALUATE, LEADERBOARD)
RESOURCE_KEYS = {"partition": str, "time_min": int, "gpus": int, "cpus": int, "mem_gb": (int, float),
                 "parallelism": int, "slurm": dict}


@dataclass(frozen=True)
class Resources:
    """What one task of a phase asks the scheduler for."""

    partition: str | None = None
    time_min: int = 60
    gpus: int = 0
    cpus: int | None = None
    mem_gb: float | None = None
    parallelism: int | None = None  # array tasks running at once (Slurm's ``--array=0-N%P``)
    slurm: dict = field(default_factory=dict)  # further sbatch flags, e.g. {"account": "lab", "qos": "high"}

    def executor_parameters(self, name: str) -> dict:
        """The submitit ``AutoExecutor`` parameters (those of other clusters are ignored by it)."""
        params = {"name": name, "timeout_min": self.time_min, "slurm_additional_parameters": dict(self.slurm)}
        if self.gpus:
            params["gpus_per_node"] = self.gpus
        if self.cpus is not None:
            params["cpus_per_task"] = self.cpus
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.parallelism is not None:
            params["slurm_array_parallelism"] = self.parallelism
        return params


DEFAULT_RESOURCES = {ENCODE: Resources(), EVALUATE: Resources(), LEADERBOARD: Resources(time_min=15, cpus=1)}


def load_resources(config: Path | None = None, **flags) -> dict[str, Resources]:
    """Per phase: the defaults, then the config file's section for it, then the flags that were
    given (not None), which apply to the encode and evaluate phases."""
    sections: dict = {}
    if config is not None:
        try:
            sections = json.loads(Path(config).read_text())
        except OSError as err:
            raise RunError(f"--config {config}: cannot be read ({err.strerror or err})") from None
        except ValueError as err:
            raise RunError(f"--config {config}: not valid JSON ({err})") from None
        if not isinstance(sections, dict) or set(sections) - set(SWEEP_PHASES):
            raise RunError(f"--config {config}: expected an object with sections among {', '.join(SWEEP_PHASES)}, "
                           f'e.g. {{"encode": {{"gpus": 1, "time_min": 120}}, "evaluate": {{"cpus": 4}}}}')
    given = {k: v for k, v in flags.items() if v is not None}
    _check_values("flag --", given, RESOURCE_KEYS)
    resources = {}
    for phase, default in DEFAULT_RESOURCES.items():
        section = sections.get(phase) or {}
        if not isinstance(section, dict):
            raise RunError(f"--config {config}: section {phase!r} must be an object of resource settings")
        _check_values(f"--config {config}: {phase}.", section, RESOURCE_KEYS)
        values = {**section, **(given if phase != LEADERBOARD else {})}
        resources[phase] = dataclasses.replace(default, **values)
    return resources


def _check_values(where: str, values: dict, types: dict) -> None:
    for key, value in values.items():
        if key not in types:
            raise RunError(f"{where}{key}: unknown resource setting; known: {', '.join(types)}")
        if isinstance(value, bool) or not isinstance(value, types[key]):
            raise RunError(f"{where}{key} = {value!r}: expected {getattr(types[key], '__name__', 'a number')}")
        if key in ("time_min", "parallelism", "cpus") and value < 1 or key in ("gpus", "mem_gb") and value < 0:
            raise RunError(f"{where}{key} = {value!r}: out of range (time, CPUs and parallelism at least 1; "
                           "GPUs and memory not negative)")


# ---------------------------------------------------------------------------------------- tasks
# Module-level functions: submitit pickles them by reference and the task imports this module.

def run_shard(spec: RunSpec, threads: int | None = None) -> dict:
    """One array task: ``zsbench run`` on one shard of one phase. Returns what it did."""
    import os
    import socket

    import torch

    from zsbench.harness.evaluation.runner import Runner

    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    runner = Runner(spec)
    evaluations = runner.run()
    return {"phase": spec.phase, "shard": spec.shard, "host": socket.gethostname(), "pid": os.getpid(),
            "new": [e.row["eval_id"] for e in evaluations if not e.skipped],
            "skipped": sum(e.skipped for e in evaluations), "cache_misses": runner.cache.misses,
            "cache_waits": runner.cache.waits, "seconds": round(time.perf_counter() - start, 3)}


def render_leaderboard(results_dir: Path, leaderboard: Path) -> str:
    """The sweep's last step: the leaderboard, once, from every task's rows."""
    from zsbench.harness.results.leaderboard import write_leaderboard

    write_leaderboard(results_dir, leaderboard)
    return str(leaderboard)


# ---------------------------------------------------------------------------------------- sweep

@dataclass
class Sweep:
    """What was submitted: the submitit jobs per phase, and (local, debug) what each task did."""

    executor: str
    folder: Path
    jobs: dict[str, list] = field(default_factory=dict)
    reports: dict[str, list[dict]] = field(default_factory=dict)
    leaderboard: Path | None = None

    def array_id(self, phase: str) -> str | None:
        jobs = self.jobs.get(phase) or []
        return str(jobs[0].job_id).split("_")[0] if jobs else None


def absolute(spec: RunSpec) -> RunSpec:
    """The spec with every path absolute and the cache named, so a task running elsewhere (another
    working directory, a compute node) reads and writes the same folders."""
    from zsbench.harness.core.cache_dir import default_cache_dir

    def resolved(path):
        return Path(path).expanduser().resolve() if path is not None else None

    results = resolved(spec.results_dir)
    return dataclasses.replace(
        spec, results_dir=results, data_root=resolved(spec.data_root),
        cache_dir=resolved(spec.cache_dir) if spec.cache_dir is not None else default_cache_dir().resolve(),
        leaderboard=resolved(spec.leaderboard) or default_leaderboard_path(results).resolve(),
    )


def task_specs(spec: RunSpec, phase: str, tasks: int) -> list[RunSpec]:
    """The array of one phase: shard i of ``tasks``, that phase only, no leaderboard."""
    return [dataclasses.replace(spec, shard=f"{i}/{tasks}", phase=phase, write_leaderboard=False)
            for i in range(1, tasks + 1)]


def encode_tasks(jobs: int, needs_images: bool, encode_units: int) -> int:
    """Tasks of the encode phase: none when no method reads cached image features; else at most one
    per encode unit (a (model, dataset) split, or one image range of a large one)."""
    return min(jobs, encode_units) if needs_images else 0


def check_sweep(executor: str, jobs: int) -> None:
    if executor not in EXECUTORS:
        raise RunError(f"--executor {executor}: expected one of {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise RunError(f"--jobs {jobs}: must be at least 1")


def submit(spec: RunSpec, executor: str = "local", jobs: int = 2, folder: Path | None = None,
           resources: dict[str, Resources] | None = None, needs_images: bool = True, encode_units: int = 1,
           threads: int | None = None, log=print) -> Sweep:
    """Submit the sweep's phases. Slurm: the three submissions chained by ``afterok`` dependencies,
    then return. Local and debug: run them in turn, waiting for each, then render the leaderboard."""
    check_sweep(executor, jobs)
    resources = resources or load_resources()
    spec = absolute(spec)
    folder = Path(folder or Path(spec.results_dir) / ".sweeps" / time.strftime("%Y%m%dT%H%M%S")).resolve()
    sweep = Sweep(executor, folder)
    waits = executor != "slurm"
    arrays = [(ENCODE, encode_tasks(jobs, needs_images, encode_units)), (EVALUATE, jobs)]
    dependency = None
    for phase, count in arrays:
        if not count:
            continue
        ex = _executor(folder, executor, resources[phase], f"zsbench-{phase}", dependency)
        specs = task_specs(spec, phase, count)
        sweep.jobs[phase] = ex.map_array(run_shard, specs, [threads] * count)  # one job array
        log(f"{phase}: {count} task(s) submitted" + (f" as array {sweep.array_id(phase)}" if not waits else "")
            + f"; logs in {folder}")
        if waits:
            sweep.reports[phase] = [_result(job, phase, folder) for job in sweep.jobs[phase]]
        dependency = sweep.array_id(phase)
    if waits:
        sweep.leaderboard = Path(render_leaderboard(spec.results_dir, spec.leaderboard))
    else:
        ex = _executor(folder, executor, resources[LEADERBOARD], "zsbench-leaderboard", dependency)
        sweep.jobs[LEADERBOARD] = [ex.submit(render_leaderboard, spec.results_dir, spec.leaderboard)]
        sweep.leaderboard = spec.leaderboard
        log(f"leaderboard: job {sweep.jobs[LEADERBOARD][0].job_id} renders {spec.leaderboard} after the evaluations")
    return sweep


def _executor(folder: Path, cluster: str, resources: Resources, name: str, after: str | None):
    """A fresh executor per submission: submitit keeps parameters between updates, and one phase's
    must not leak into the next (the encode array's GPUs into the evaluate array)."""
    import submitit

    ex = submitit.AutoExecutor(folder=folder, cluster=cluster)
    ex.update_parameters(**resources.executor_parameters(name), **({"slurm_dependency": f"afterok:{after}"} if after else {}))
    return ex


def _result(job, phase: str, folder: Path) -> dict:
    try:
        return job.result()
    except Exception as err:  # a task's failure, with where its log is
        raise RunError(f"sweep {phase} task {job.job_id} failed; its log: {job.paths.stderr} "
                       f"(submit the same sweep again to finish what is missing)\n{err}") from None
