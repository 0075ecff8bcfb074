"""The ``zsbench`` command line (typer). Errors users can fix are printed as one clear message
(naming the flag, file or dataset and the fix) with exit code 2, never as a stack trace.

Starting is cheap: this module imports typer, rich and the light core only; each command imports
the layers it needs (torch, pandas, open_clip, Hugging Face ``datasets``) when it runs, after the
names it was given are checked, so ``--help``, ``list suites`` and a mistyped name answer at once."""
from __future__ import annotations

import functools
import inspect
import sys
import typing
from pathlib import Path
from typing import List, Optional

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zsbench.harness.core import registry
from zsbench.harness.core.errors import RunError, UserError
from zsbench.harness.evaluation.run_spec import DEFAULT_SEEDS, RunSpec, check_spec

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Benchmark zero-shot and few-shot CLIP classification methods.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect the real datasets on this machine.")
toy_app = typer.Typer(no_args_is_help=True, help="The offline toy world and its toy-clip model.")
app.add_typer(data_app, name="data")
app.add_typer(toy_app, name="toy")
bench_app = typer.Typer(help="Benchmarks: a method's cost against its pure model work; the input pipeline against the forward.")
app.add_typer(bench_app, name="bench")
out = Console()
err = Console(stderr=True, soft_wrap=True)  # messages stay whole lines: paths and fixes copy-paste
interrupt_reported = False  # a Ctrl-C whose one-line message was printed (see harness.console)


def friendly(fn):
    """Turn the errors a user can fix into a red one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt as e:
            global interrupt_reported
            kept = str(e) or "nothing half-written was left behind"
            err.print(f"[yellow]interrupted[/]: {escape(kept)}", highlight=False)
            interrupt_reported = True
            raise typer.Exit(130) from None
        except UserError as e:
            err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


def _csv(value: Optional[str]) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def check_names(spec: RunSpec) -> None:
    """The flags and names of a run, checked before anything heavy is imported (the runner checks
    them again, with everything else, before any model work)."""
    check_spec(spec)
    for name in dict.fromkeys(spec.methods):
        registry.METHODS.check(name)
    if spec.suite and spec.datasets:
        return  # the runner says "either --suite or --dataset"
    if spec.suite:
        registry.SUITES.check(spec.suite)
    for name in dict.fromkeys(spec.datasets):
        registry.DATASETS.check(name)


def _run_spec(options: dict) -> RunSpec:
    """The RunSpec of ``run``'s options (``sweep`` takes the same ones), its names checked."""
    options = dict(options)
    seeds = options.pop("seeds")
    try:
        seed_list = tuple(int(s) for s in _csv(seeds))
    except ValueError:
        raise RunError(f"--seeds {seeds}: expected comma-separated integers like 1,2,3") from None
    options.pop("progress", None)
    spec = RunSpec(methods=_csv(options.pop("method")), datasets=_csv(options.pop("dataset")), seeds=seed_list,
                   overrides=list(options.pop("set_")), **options)
    check_names(spec)
    return spec


@app.command()
@friendly
def run(
    method: str = typer.Option(..., "--method", help="Method name(s), comma-separated."),
    suite: Optional[str] = typer.Option(None, "--suite", help="A suite of datasets (see `zsbench list suites`)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Dataset name(s), comma-separated."),
    model: Optional[str] = typer.Option(None, "--model", help="open_clip model name(s), hf-hub:ID, or toy-clip, comma-separated (default: the datasets' default, else ViT-B-16)."),
    pretrained: Optional[str] = typer.Option(None, "--pretrained", help="Pretrained tag, checkpoint PATH, or hf-hub:ID; one per --model, comma-separated (default: openai for ViT-B-16)."),
    shots: int = typer.Option(0, "--shots", help="K for few-shot methods (0: zero-shot)."),
    seeds: str = typer.Option(",".join(map(str, DEFAULT_SEEDS)), "--seeds", help="Seeds for stochastic and few-shot methods."),
    device: str = typer.Option("auto", "--device", help="auto|cpu|cuda"),
    precision: str = typer.Option("fp32", "--precision", help="fp32|fp16|bf16 (autocast on CUDA)"),
    batch_size: str = typer.Option("auto", "--batch-size", help="Images per batch, or auto: the largest that fits on the GPU (found once, cached), 128 on CPU."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate a fixed subset of N test images per dataset."),
    set_: List[str] = typer.Option([], "--set", help="Hyperparameter override key=value or method.key=value (repeatable)."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir"),
    force: bool = typer.Option(False, "--force", help="Re-run evaluations already in the results store."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Root of local datasets (default: $ZSBENCH_DATA)."),
    workers: str = typer.Option("auto", "--workers", help="DataLoader worker processes for image decoding, or auto: from the CPUs available (capped at 8)."),
    latency_images: int = typer.Option(64, "--latency-images", help="Single-image calls timed for the batch-1 latency percentiles (0: no latency columns)."),
    save_logits: bool = typer.Option(False, "--save-logits", help="Also store every image's full logits (fp16) with its predictions."),
    leaderboard: Optional[Path] = typer.Option(None, "--leaderboard", help="Leaderboard file to regenerate (default: leaderboard.md beside a results dir named `results`, else RESULTS_DIR/leaderboard.md, so a run into another folder never rewrites the repository's leaderboard)."),
    write_leaderboard: bool = typer.Option(True, "--leaderboard-update/--no-leaderboard", help="Re-render the leaderboard at the end (off for a sweep's array tasks)."),
    shard: Optional[str] = typer.Option(None, "--shard", help="I/N: only this shard's units (the N shards together do the whole run)."),
    phase: str = typer.Option("all", "--phase", help="all | encode (fill the feature cache only) | evaluate."),
    encode_chunk: int = typer.Option(10_000, "--encode-chunk", help="Test images per encode unit: a larger split is encoded as image ranges that shards share (0: one unit per split)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
):
    """Evaluate methods on datasets; append the results to the Parquet store and re-render the leaderboard."""
    spec = _run_spec(dict(locals()))
    from zsbench.harness.core.progress import reporting

    live = progress and sys.stderr.isatty()  # bars and status lines on a terminal only: logs stay clean
    if live:  # the imports below (torch, open_clip, datasets) take seconds: say so
        err.print("loading zsbench's evaluation stack (torch, open_clip) ...", highlight=False)
    from zsbench.harness.evaluation.runner import Runner

    with reporting(live) as reporter:
        if live:
            reporter.log("planning the evaluations (datasets, input files, few-shot subsets) ...")
        runner = Runner(spec, reporter=reporter if progress else None)
        evaluations = runner.run()
    table = Table(title=f"zsbench run ({len(evaluations)} evaluations)",
                  caption="p50 ms: per-image latency at batch 1 (median); img/s: throughput at the run's batch size")
    for col in ("method", "dataset", "seed", "shots", "top-1 %", "top-5 %", "p50 ms", "img/s", "status"):
        table.add_column(col)

    def number(value, fmt: str) -> str:
        return "-" if value is None or value != value else format(value, fmt)

    for ev in evaluations:
        r = ev.row
        table.add_row(r["method"], r["dataset"], str(r["seed"]), str(r["shots"]), f"{r['acc1']:.2f}", f"{r['acc5']:.2f}",
                      number(r.get("latency_ms_p50"), ".2f"), number(r.get("images_per_s"), ".0f"),
                      "already stored" if ev.skipped else "new")
    out.print(table)
    for line in runner.where_results_went():
        out.print(line, soft_wrap=True, highlight=False)


SWEEP_OWN_RUN_OPTIONS = ("shard", "phase", "write_leaderboard", "progress")  # the sweep sets these per task


def with_run_options(fn):
    """Give ``fn`` every option of ``run`` but those a sweep sets per task (typer reads the signature;
    the function takes them as ``**run_options``)."""
    hints = {**typing.get_type_hints(run), **typing.get_type_hints(fn)}
    shared = [p for name, p in inspect.signature(run).parameters.items() if name not in SWEEP_OWN_RUN_OPTIONS]
    own = [p for p in inspect.signature(fn).parameters.values() if p.kind is not p.VAR_KEYWORD]
    fn.__signature__ = inspect.Signature([p.replace(annotation=hints[p.name]) for p in shared + own])
    fn.__annotations__ = {p.name: hints[p.name] for p in shared + own}
    return fn


@app.command()
@friendly
@with_run_options
def sweep(
    executor: str = typer.Option("local", "--executor", help="local (processes on this machine) | slurm (job arrays) | debug (in this process, one task at a time)."),
    jobs: int = typer.Option(2, "--jobs", help="Array tasks per phase (the units are shared out by --shard i/N)."),
    config: Optional[Path] = typer.Option(None, "--config", help='JSON resources per phase, e.g. {"encode": {"gpus": 1, "time_min": 120}, "evaluate": {"cpus": 4}}; the flags below override it.'),
    partition: Optional[str] = typer.Option(None, "--partition", help="Slurm partition of the encode and evaluate tasks."),
    time_min: Optional[int] = typer.Option(None, "--time", help="Minutes per task (default 60)."),
    gpus: Optional[int] = typer.Option(None, "--gpus", help="GPUs per task (default 0)."),
    cpus: Optional[int] = typer.Option(None, "--cpus", help="CPUs per task."),
    mem_gb: Optional[float] = typer.Option(None, "--mem-gb", help="Memory per task, GB."),
    parallelism: Optional[int] = typer.Option(None, "--parallelism", help="Array tasks running at once (Slurm --array=0-N%P)."),
    folder: Optional[Path] = typer.Option(None, "--folder", help="submitit's folder for scripts and logs (default: RESULTS_DIR/.sweeps/<time>)."),
    **run_options,
):
    """Run the same selection as `zsbench run` as job arrays (submitit): an encode phase that fills the
    feature cache, an evaluate phase that writes the rows, then the leaderboard once. Submitting it
    again does only what is missing."""
    spec = _run_spec(dict(run_options, shard=None, phase="all", write_leaderboard=False, progress=False))
    from zsbench.harness.core.registry import METHODS
    from zsbench.harness.evaluation.runner import Runner
    from zsbench.harness.models.input_pipeline import available_cpus
    from zsbench.harness.scaleout import sweep as sweeps
    from zsbench.methods.base import Need

    sweeps.check_sweep(executor, jobs)
    resources = sweeps.load_resources(config, partition=partition, time_min=time_min, gpus=gpus, cpus=cpus,
                                      mem_gb=mem_gb, parallelism=parallelism)
    needs_images = any(Need.IMAGE_FEATURES in METHODS.get(m).needs for m in spec.methods)
    threads = max(1, available_cpus() // jobs) if executor == "local" else resources["evaluate"].cpus
    done = sweeps.submit(spec, executor, jobs, folder, resources, needs_images, Runner(spec).encode_units_count(),
                         threads, log=lambda m: err.print(escape(m), highlight=False))
    if not done.reports:
        out.print(f"submitted to Slurm; logs in {done.folder}; the leaderboard job writes {done.leaderboard}")
        return
    table = Table(title=f"zsbench sweep ({executor}, {jobs} tasks per phase)")
    for col in ("phase", "shard", "host", "new", "skipped", "cache misses", "seconds"):
        table.add_column(col)
    for phase, reports in done.reports.items():
        for r in reports:
            table.add_row(phase, r["shard"], r["host"], str(len(r["new"])), str(r["skipped"]), str(r["cache_misses"]),
                          f"{r['seconds']:.1f}")
    out.print(table)
    out.print(f"results in {Path(spec.results_dir).resolve()}; leaderboard {done.leaderboard}")


@app.command("list")
@friendly
def list_(
    what: str = typer.Argument(..., help="methods | datasets | suites | models"),
    name: Optional[str] = typer.Option(None, "--name", help="Only names matching this pattern (fnmatch, e.g. 'ViT-B*'; a plain word matches anywhere)."),
    cached: bool = typer.Option(False, "--cached", help="models: only the pretrained tags whose weights are already on this machine."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="datasets: root of local datasets (default: $ZSBENCH_DATA)."),
):
    """List registered methods, datasets (with classes, test size, family, whether present here),
    suites, or models (cached weights marked)."""
    import fnmatch

    def wanted(candidate: str) -> bool:
        if name is None:
            return True
        pattern = name if any(c in name for c in "*?[") else f"*{name}*"
        return fnmatch.fnmatch(candidate.lower(), pattern.lower())

    table = Table()
    if what == "methods":
        import dataclasses

        table.add_column("method"), table.add_column("needs"), table.add_column("hyperparameters (defaults)")
        for method, cls in registry.METHODS.items():
            if wanted(method):
                params = ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(cls.Config) if f.default is not dataclasses.MISSING)
                table.add_row(method, ", ".join(sorted(n.value for n in cls.needs)), params)
    elif what == "datasets":
        from zsbench.datasets.status import dataset_listing

        for column in ("dataset", "classes", "test images", "family", "here"):
            table.add_column(column, no_wrap=True, justify="right" if column in ("classes", "test images") else "left")
        for entry in dataset_listing(data_root, names=[n for n, _ in registry.DATASETS.items() if wanted(n)]):
            table.add_row(entry.name, str(entry.n_classes) if entry.n_classes else "?", str(entry.test_size) if entry.test_size else "?",
                          entry.family or "-", entry.here)
        table.caption = "absent real datasets: the published split sizes; ?: known once the data is here (`zsbench data status`)"
    elif what == "suites":
        table.add_column("suite"), table.add_column("datasets"), table.add_column("averages")
        for suite, s in registry.SUITES.items():
            if wanted(suite):
                table.add_row(suite, ", ".join(s.datasets), "; ".join(f"{a}: {', '.join(ds)}" for a, ds in s.averages))
    elif what == "models":
        import open_clip

        from zsbench.harness.models.loading import cached_pretrained

        table.add_column("model", no_wrap=True), table.add_column("pretrained tags (* weights cached here)")
        if wanted("toy-clip"):
            table.add_row("toy-clip", "committed* (offline toy world)")
        for model in open_clip.list_models():
            if not wanted(model):
                continue
            tags = [(t, cached_pretrained(model, t)) for t in open_clip.list_pretrained_tags_by_model(model)]
            if cached:
                tags = [(t, c) for t, c in tags if c]
                if not tags:
                    continue
            table.add_row(model, ", ".join(f"{t}*" if c else t for t, c in tags))
        table.caption = "* the weights are in the local cache: a run needs no download"
    else:
        raise registry.UnknownNameError(f"unknown listing {what!r}; valid: methods, datasets, suites, models")
    if not table.row_count:
        err.print(f"nothing to list{f' matching --name {name}' if name else ''}{' with cached weights' if cached else ''}")
        return
    out.print(table)


@app.command("leaderboard")
@friendly
def leaderboard_(
    results_dir: Path = typer.Option(Path("results"), "--results-dir"),
    output: Path = typer.Option(Path("leaderboard.md"), "--output"),
    check: bool = typer.Option(False, "--check", help="Exit non-zero and print the difference when the file, a plot or the HTML page is stale."),
    html: Optional[Path] = typer.Option(None, "--html", help="The static HTML page (default: RESULTS_DIR/leaderboard.html, beside the plots)."),
):
    """Render the leaderboard from the results store: the markdown file, the plots and the HTML page."""
    from zsbench.harness.results.leaderboard import check_leaderboard, write_leaderboard

    if check:
        ok, diff = check_leaderboard(results_dir, output, html)
        if not ok:
            err.print(f"[bold red]{output} is stale[/]: re-run `zsbench leaderboard --results-dir {results_dir} --output {output}`")
            sys.stdout.write(diff)
            raise typer.Exit(1)
        out.print(f"{output} is up to date with {results_dir}")
        return
    write_leaderboard(results_dir, output, html)
    from zsbench.harness.results.leaderboard_html import default_html

    out.print(f"wrote {output} and {html or default_html(results_dir)}")


RESULTS_KEY_COLUMNS = ("method", "model", "pretrained", "dataset", "seed", "shots", "classes", "limit")
RESULTS_TABLE_COLUMNS = RESULTS_KEY_COLUMNS + ("acc1", "acc5", "latency_ms_p50", "images_per_s", "device")
RESULTS_FORMATS = ("table", "csv", "json", "markdown")


@app.command()
@friendly
def results(
    results_dir: Path = typer.Option(Path("results"), "--results-dir"),
    format: str = typer.Option("table", "--format", help="table | csv | json | markdown"),
    columns: Optional[str] = typer.Option(None, "--columns", help="Comma-separated columns to show (default for table and markdown: "
                                          + ",".join(RESULTS_TABLE_COLUMNS) + "; csv and json: all)."),
):
    """Show the results store (latest row per evaluation). The key columns (method, model, ...,
    limit) are never cut short, however narrow the terminal."""
    import warnings

    import pandas as pd

    from zsbench.harness.results.store import load_results

    if format not in RESULTS_FORMATS:
        raise RunError(f"--format {format!r}: choose one of {', '.join(RESULTS_FORMATS)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results(results_dir)
    for w in caught:
        err.print(f"[yellow]warning:[/] {w.message}", highlight=False)
    chosen = _csv(columns) or (list(RESULTS_TABLE_COLUMNS) if format in ("table", "markdown") else list(df.columns))
    unknown = [c for c in chosen if c not in df.columns]
    if unknown:
        raise RunError(f"--columns: no column {', '.join(map(repr, unknown))} in the results; valid: {', '.join(df.columns)}")
    df = df[chosen]
    if format == "csv":
        sys.stdout.write(df.to_csv(index=False))
        return
    if format == "json":
        sys.stdout.write(df.to_json(orient="records", date_format="iso", indent=1) + "\n")
        return

    def cell(value) -> str:
        return "" if pd.isna(value) else f"{value:.2f}" if isinstance(value, float) else str(value)

    cells = [[cell(v) for v in r] for r in df.itertuples(index=False)]
    if format == "markdown":
        lines = ["| " + " | ".join(chosen) + " |", "|" + "|".join("---" for _ in chosen) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in cells]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    table = Table(title=f"{len(df)} evaluations in {results_dir}")
    needed = 1
    for i, c in enumerate(chosen):
        widest = max([len(c)] + [len(r[i]) for r in cells])
        if c in RESULTS_KEY_COLUMNS:  # never wrapped or cut: clip and clip-e must stay apart
            table.add_column(c, no_wrap=True, min_width=widest)
            needed += widest + 3
        else:
            table.add_column(c, overflow="fold", min_width=min(widest, 6), justify="right" if df[c].dtype.kind in "fiu" else "left")
            needed += min(widest, 6) + 3
    for r in cells:
        table.add_row(*r)
    # rich shrinks every column, the no-wrap ones included, when the table cannot fit; rather
    # than that, draw it as wide as the key columns need (the terminal wraps the long lines)
    Console(width=max(out.width, needed)).print(table, crop=False)


@app.command()
@friendly
def compare(
    method: str = typer.Option(..., "--method", help="Two methods A,B (METHOD or METHOD@CONFIG_HASH)."),
    dataset: str = typer.Option(..., "--dataset", help="The dataset both were evaluated on."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir"),
    model: Optional[str] = typer.Option(None, "--model"),
    pretrained: Optional[str] = typer.Option(None, "--pretrained"),
    shots: Optional[int] = typer.Option(None, "--shots"),
    classes: str = typer.Option("all", "--classes", help="all | base | new (base-to-new evaluations)"),
    limit: Optional[int] = typer.Option(None, "--limit", help="Compare --limit N evaluations instead of full ones."),
    format: str = typer.Option("table", "--format", help="table|csv"),
):
    """Paired comparison of two methods on the same test images: accuracy difference with its
    bootstrap 95 % interval and McNemar's exact p-value, per seed pair and for the mean over seeds."""
    from zsbench.harness.results.compare import CompareError, compare as run_compare

    names = _csv(method)
    if len(names) != 2:
        raise CompareError(f"--method {method}: give exactly two methods, e.g. --method clip-e,zpe")
    df = run_compare(names[0], names[1], dataset, results_dir, model=model, pretrained=pretrained, shots=shots,
                     classes=classes, limit=limit)
    if format == "csv":
        sys.stdout.write(df.to_csv(index=False))
        return
    tests = "; ".join(f"{seeds}: {test}" for seeds, test in (("seed pairs", "McNemar exact"),
                                                                 ("mean over seeds", df["test"].iloc[-1])))
    table = Table(title=f"{names[0]} (A) vs {names[1]} (B) on {dataset}, {int(df['n_images'].iloc[0])} images",
                  caption=f"A − B in points, paired bootstrap 95 % interval; p: {tests}", box=box.SIMPLE_HEAD)
    for c in ("seeds", "A %", "B %", "A − B", "95 % CI", "A only", "B only", "p"):
        table.add_column(c, no_wrap=True, justify="left" if c == "seeds" else "right")
    for _, r in df.iterrows():
        seeds = "mean" if r["seed_a"] == "mean" else f"{r['seed_a']} / {r['seed_b']}"
        table.add_row(seeds, f"{r['acc1_a']:.2f}", f"{r['acc1_b']:.2f}", f"{r['diff']:+.2f}",
                      f"[{r['ci95_low']:+.2f}, {r['ci95_high']:+.2f}]", str(r["only_a"]), str(r["only_b"]),
                      f"{r['p_value']:.3g}")
    out.print(table)


@data_app.command("status")
@friendly
def data_status(
    data_root: Optional[Path] = typer.Option(None, "--data-root"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print, per missing dataset, what is missing and how to get it."),
):
    """Which real datasets are on this machine, how big, and how to fix what is missing: one table and
    one line of advice (--verbose: the full fix per dataset)."""
    from zsbench.datasets.paths import resolve_data_root
    from zsbench.datasets.status import dataset_status

    root = resolve_data_root(data_root)
    statuses = dataset_status(data_root)
    table = Table(title=f"datasets under {root}" if root else "datasets (no data root set)", box=box.SIMPLE_HEAD)
    columns = ("dataset", "found", "test images", "classes") + (("split file", "missing") if root else ())
    for c in columns:
        table.add_column(c, no_wrap=c != "missing", overflow="fold", justify="right" if c in ("test images", "classes") else "left")
    for s in statuses:
        row = [s.name, "yes" if s.found else "no", str(s.n_images.get("test", "-")), str(s.n_classes or "-")]
        if root:
            row += [s.split_file or "-", ", ".join(s.missing) if s.missing else ("" if s.found else "see --verbose")]
        table.add_row(*row)
    out.print(table)
    found = sum(s.found for s in statuses)
    if root is None:
        advice = "no data root is set: pass --data-root DIR or set ZSBENCH_DATA; the toy suite needs no data"
    elif found == len(statuses):
        advice = f"all {found} datasets found under {root}"
    else:
        advice = (f"{found} of {len(statuses)} datasets found under {root}; "
                  "`zsbench data status --verbose` says, per missing dataset, what to download and where to put it")
    out.print(advice, soft_wrap=True)
    if verbose:
        for s in statuses:
            if s.fix:
                out.print(f"\n[bold]{s.name}[/]", highlight=False)
                out.print(escape(s.fix), soft_wrap=True, highlight=False)  # soft wrap: URLs stay whole


@data_app.command("pin")
@friendly
def data_pin():
    """The commit each unpinned Hub mirror's main points to now (needs the network): the revision
    to write into its HubEntry in zsbench/datasets/catalog.py."""
    from zsbench.datasets.records import RECORDS
    from zsbench.datasets.hub import resolve_revision

    table = Table(title="unpinned Hub mirrors")
    for c in ("dataset", "repo", "main is at"):
        table.add_column(c, overflow="fold")
    for name, spec in RECORDS.items():
        if spec.hub is not None and spec.hub.revision is None:
            table.add_row(name, spec.hub.repo_id, resolve_revision(name, spec.hub).revision)
    out.print(table)


def _write_json(path: Optional[Path], payload: dict) -> None:
    if path is not None:
        import json

        from zsbench.harness.core.atomic import atomic_write

        with atomic_write(path) as f:
            f.write((json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode())
        out.print(f"wrote {path}")


@bench_app.callback(invoke_without_command=True)
@friendly
def bench(
    ctx: typer.Context,
    method: str = typer.Option("abs", "--method", help="Method to benchmark (abs)."),
    model: str = typer.Option("ViT-B-16", "--model", help="open_clip architecture, random weights (no download)."),
    images: int = typer.Option(4, "--images"),
    device: str = typer.Option("cpu", "--device", help="cpu|cuda|cuda:N"),
    precision: str = typer.Option("fp32", "--precision", help="fp32|fp16|bf16 (fp16/bf16: CUDA autocast)"),
    attention: str = typer.Option("dino", "--attention", help="dino (random weights) or clip"),
    classes: int = typer.Option(1000, "--classes", help="Classes (x 50 random descriptions each) ABS matches against."),
    repeats: int = typer.Option(2, "--repeats"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the figures to this JSON file."),
):
    """Seconds per image of a method against the pure model work it needs, and their ratio
    (`zsbench bench encode`: the input pipeline against the pure forward)."""
    if ctx.invoked_subcommand is not None:
        return
    if method not in registry.BENCHMARKS:
        raise RunError(f"--method {method}: no benchmark; available: {', '.join(registry.BENCHMARKS.names())}")
    if images < 1 or classes < 1 or repeats < 1:
        raise RunError(f"--images {images} --classes {classes} --repeats {repeats}: each must be at least 1")
    result = registry.BENCHMARKS.get(method)(model=model, n_images=images, device=device, attention=attention,
                                             repeats=repeats, precision=precision, n_classes=classes)
    out.print(result.summary())
    _write_json(json_path, result.as_dict())


@bench_app.command("encode")
@friendly
def bench_encode(
    model: str = typer.Option("ViT-B-16", "--model", help="open_clip architecture, random weights (no download)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32|fp16|bf16 (fp16/bf16: CUDA autocast)"),
    device: str = typer.Option("auto", "--device", help="auto|cpu|cuda|cuda:N"),
    images: int = typer.Option(256, "--images", help="JPEG files of 500x375 to encode (generated once, cached)."),
    workers: str = typer.Option("0,auto", "--workers", help="DataLoader worker counts to sweep, comma-separated (auto allowed)."),
    batch_size: str = typer.Option("auto", "--batch-size"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the figures to this JSON file."),
):
    """Images/s of the full input pipeline (JPEG files -> features) against the pure model forward on
    ready tensors of the same batch, and their ratio, per --workers value; with the decode rate per core."""
    from zsbench.harness.evaluation.run_spec import auto_or_int

    sweep = [auto_or_int("--workers", w, 0) for w in _csv(workers)]
    if not sweep:
        raise RunError("--workers: give one or more counts, e.g. --workers 0,4,8,auto")
    if images < 1:
        raise RunError(f"--images {images}: must be at least 1")
    from zsbench.harness.evaluation.bench_encode import bench_encode as run_bench

    result = run_bench(model=model, precision=precision, device=device, n_images=images, workers=sweep,
                       batch_size=auto_or_int("--batch-size", batch_size, 1))
    out.print(result.summary())
    _write_json(json_path, result.as_dict())


@toy_app.command("train")
@friendly
def toy_train(
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the committed training config (for experiments)."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Write the artifact here instead of the package (default)."),
    eval_every: int = typer.Option(500, "--eval-every", help="Report zero-shot val accuracy every N steps (0: never)."),
):
    """Train toy-clip deterministically and write its weights, tokenizer and manifest."""
    from zsbench.datasets.toy.training_cli import train_and_save

    train_and_save(steps=steps, output_dir=output_dir, console=out, eval_every=eval_every)


@toy_app.command("attention")
@friendly
def toy_attention(dataset: str = typer.Option("toy-a", "--dataset"), top_k: int = typer.Option(20, "--top-k")):
    """How often toy-clip's last-layer CLS attention lands on the object (vs. its area fraction)."""
    from zsbench.datasets.toy.attention_check import attention_on_object

    stats = attention_on_object(dataset, top_k)
    out.print(stats)
