"""The smoke pipeline the `pipeline` fixture builds: the real `dvc repro` of the shipped smoke profile in
a temporary copy of the repository, with its own SQLite MLflow store; and the tests' overlay on the real
params.yaml (one place for config)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from paddy_edge.config import Params, deep_merge, parse_params, read_yaml
from paddy_edge.smoke import build_workspace, workspace_env

from . import ROOT
from .cli import cli

# Put into the pipeline's environment to prove that no stage logs or prints the environment.
FAKE_SECRET = "fake-kaggle-key-never-logged-42"

# Fewer benchmark rounds than the smoke profile: tests check behaviour, the bench stage measures. No test
# may depend on wall-clock speed, so both latency gates are off here (tests/model/test_gate_checks.py
# checks their arithmetic on given figures).
TEST_OVERLAY: dict[str, Any] = {
    "bench": {"rounds": 5, "warmup_rounds": 1},
    # The slow tests export again and again; executorch_int8's PT2E lowering alone takes about a minute.
    # It is covered by tests/model/test_formats.py (tiny network) and end to end by `make smoke` in CI.
    "export": {"formats": ["lite", "onnx", "onnx_int8", "openvino", "openvino_int8", "executorch"]},
    "gates": {"max_latency_ratio": None, "max_latency_ms": None},
}


def params_with(overlay: dict[str, Any] | None = None) -> Params:
    """The repository's params.yaml with an overlay, validated."""
    return parse_params(deep_merge(read_yaml(ROOT / "params.yaml"), overlay or {}))


@dataclass
class Pipeline:
    workspace: Path
    env: dict[str, str]
    tracking_uri: str
    first_run: subprocess.CompletedProcess

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*args], cwd=cwd or self.workspace, env=self.env, capture_output=True, text=True
        )

    def dvc(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args)

    def stage(self, name: str) -> subprocess.CompletedProcess:
        """`python -m paddy_edge NAME` in the workspace, as dvc.yaml runs it (no time limit)."""
        return cli(name, cwd=self.workspace, env=self.env, timeout=None)

    def clone(self, target: Path, dvc_cache: bool = False) -> Pipeline:
        """A copy of the finished workspace with its own, empty MLflow store (for tests that change or
        break things); with `dvc_cache`, its DVC cache too, for tests that run `dvc` in it."""
        ignored = (
            ("tmp", "mlflow.db", "mlartifacts") if dvc_cache else ("cache", "tmp", "mlflow.db", "mlartifacts")
        )
        ignore = shutil.ignore_patterns(*ignored)
        shutil.copytree(self.workspace, target, ignore=ignore)
        env = workspace_env(ROOT, target)
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{target / 'mlflow.db'}"
        return Pipeline(target, env, env["MLFLOW_TRACKING_URI"], self.first_run)


def smoke_pipeline(workspace: Path) -> Pipeline:
    """Build the smoke workspace (TEST_OVERLAY on the smoke profile) in `workspace` and run `dvc repro`
    there, with FAKE_SECRET as the Kaggle key; pytest.fail with the end of its output if it fails."""
    overlay = deep_merge(read_yaml(ROOT / "profiles/smoke.yaml"), TEST_OVERLAY)
    build_workspace(ROOT, workspace, overlay)
    env = workspace_env(ROOT, workspace)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workspace / 'mlflow.db'}"
    env.pop("KAGGLE_API_TOKEN", None)
    env["KAGGLE_KEY"] = FAKE_SECRET
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "repro"], cwd=workspace, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(f"dvc repro failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    return Pipeline(workspace, env, env["MLFLOW_TRACKING_URI"], result)
