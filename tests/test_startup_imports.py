"""The CLI starts without the heavy libraries: ``zsbench --help``, ``zsbench list suites`` and an
unknown name import no torch, pandas, open_clip or Hugging Face ``datasets`` (the CPU seconds this
saves are measured in tests/benchmarks/test_bench_startup.py, not here)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "pandas", "open_clip", "datasets", "pyarrow", "timm")
PROBE = """
import json, sys
sys.argv = ["zsbench", *json.loads(sys.argv[1])]
from zsbench.harness.cli.console import main
try:
    main()
except SystemExit as exit_:
    code = exit_.code
print(json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def cli_in_fresh_process(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, check=True)
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "stdout": proc.stdout, "stderr": proc.stderr}


@pytest.mark.parametrize("args,code,says", [
    (("--help",), 0, "Benchmark zero-shot and few-shot CLIP"),
    (("list", "suites"), 0, "fine-grained"),
    (("run", "--method", "clpi", "--suite", "toy"), 2, "unknown method 'clpi' (did you mean clip?)"),
    (("run", "--method", "clip", "--suite", "tyo"), 2, "unknown suite 'tyo' (did you mean toy?)"),
    (("run", "--method", "clip", "--dataset", "toy,imagenet-b"), 2, "unknown dataset 'imagenet-b'"),
])
def test_startup_and_name_errors_import_no_heavy_library(args, code, says):
    result = cli_in_fresh_process(*args)
    assert result["code"] == code
    assert says in result["stdout"] + result["stderr"]
    assert result["heavy"] == []


def test_the_probe_sees_heavy_imports():
    """The check above can fail: a command that does import torch is reported."""
    result = cli_in_fresh_process("list", "methods")  # lists each method's Config: imports the methods
    assert result["code"] == 0 and "torch" in result["heavy"]
