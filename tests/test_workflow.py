"""The leaderboard workflow (``.github/workflows/leaderboard.yml``) parses, triggers on changes to the
results, and runs the same install and check commands as ``.ci/run``: what this repository's CI
checks is what a user's CI checks."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "leaderboard.yml"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps() -> dict[str, str]:
    (job,) = workflow()["jobs"].values()
    return {s["name"]: s.get("run", "") for s in job["steps"] if "name" in s}


def ci_leaderboard_check() -> str:
    match = re.search(r'^leaderboard_check="([^"]+)"$', (ROOT / ".ci" / "run").read_text(), re.M)
    assert match, ".ci/run defines leaderboard_check"
    return match[1]


def test_the_workflow_runs_on_changes_to_the_results():
    triggers = workflow()[True]  # YAML 1.1 reads the key `on` as true
    for event in ("push", "pull_request"):
        assert "results/**" in triggers[event]["paths"]
    assert triggers["workflow_dispatch"]["inputs"]["commit"]["type"] == "boolean"


def test_the_workflow_installs_as_the_readme_says_and_checks_as_ci_does():
    install = steps()["Install zsbench"]
    readme_first_command = (ROOT / "README.md").read_text().splitlines()[3]
    assert readme_first_command.startswith(install + " && .venv/bin/zsbench run ")  # the README's install, minus the main job
    assert f'bash -c "$install_and_run"' in (ROOT / ".ci" / "run").read_text()
    check = [run for name, run in steps().items() if "fail with the diff" in name]
    assert check == [ci_leaderboard_check()] == [".venv/bin/zsbench leaderboard --check"]
    commit_back = [run for name, run in steps().items() if "commit it back" in name][0]
    assert commit_back.splitlines()[0] == ci_leaderboard_check().removesuffix(" --check")


def test_the_workflow_caches_pip_and_the_feature_cache():
    (job,) = workflow()["jobs"].values()
    python = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["cache"] == "pip"
    cache = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/cache"))
    assert cache["with"]["path"] == ".zsbench-cache" and workflow()["env"]["ZSBENCH_CACHE"].endswith("/.zsbench-cache")


def test_ci_runs_the_check_it_defines():
    text = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\$leaderboard_check$", text, re.M)
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")]).returncode == 0
