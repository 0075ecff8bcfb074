"""Our ``datasets/`` folder (installed as ``zsbench.datasets``) must never shadow the Hugging Face
``datasets`` library: not in this process, and not in a Python started in the repository root,
where ``python -c``/``python -m`` put the root first on ``sys.path``."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUR_FOLDER = REPO / "datasets"

CHECK = "import datasets; assert hasattr(datasets, 'load_dataset'), datasets.__file__; print(datasets.__file__)"


def _is_ours(path: str) -> bool:
    return Path(path).resolve().is_relative_to(OUR_FOLDER)


def test_import_datasets_is_hugging_face_in_process(monkeypatch):
    monkeypatch.chdir(REPO)
    import datasets

    import zsbench.datasets.hub as hub

    assert hasattr(datasets, "load_dataset") and hasattr(datasets, "Dataset")
    assert not _is_ours(datasets.__file__)
    assert hub.datasets is datasets


def test_import_datasets_is_hugging_face_from_the_repo_root():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not _is_ours(done.stdout.strip().splitlines()[-1])
