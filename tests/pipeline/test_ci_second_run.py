"""CI's second run (and a release): the Actions cache restores only `.smoke/.dvc/cache`, then `make smoke`
runs. The run-cache must reproduce every stage without training or timing anything again."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from paddy_edge.config import deep_merge, read_yaml
from paddy_edge.smoke import build_workspace, workspace_env

from ..helpers import ROOT
from ..helpers.pipeline import TEST_OVERLAY, Pipeline
from .test_dvc_repro import STAGES


def test_workspace_restored_from_the_cache_alone_reproduces_without_training(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".gitignore").write_text("/.smoke/\n")
    subprocess.run(["git", "init", "-q"], cwd=checkout, check=True)
    workspace = checkout / ".smoke"
    shutil.copytree(pipeline.workspace / ".dvc/cache", workspace / ".dvc/cache")

    overlay = deep_merge(read_yaml(ROOT / "profiles/smoke.yaml"), TEST_OVERLAY)
    build_workspace(ROOT, workspace, overlay)
    env = workspace_env(ROOT, workspace) | {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "repro"], cwd=workspace, env=env, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    for restored in ("train", "bench"):  # nothing trained, nothing timed: main's figures are judged
        assert f"Running stage '{restored}'" not in result.stdout
        assert f"Stage '{restored}' is cached - skipping run, checking out outputs" in result.stdout
    assert "batch-1 latency" not in result.stdout  # pytest-benchmark's table: no format was timed
    for stage in STAGES:
        assert f"'{stage}'" in result.stdout
    assert (workspace / "models/export/model.ptl").read_bytes() == (
        pipeline.workspace / "models/export/model.ptl"
    ).read_bytes()
