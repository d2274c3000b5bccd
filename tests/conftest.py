"""Shared fixtures. Test configurations are tiny overlays on the real params.yaml (one place for config).

The `pipeline` fixture runs the real `dvc repro` of the shipped smoke profile once per session, in a
temporary copy of the repository with its own SQLite MLflow store; every test that uses it is marked
`slow` here (`make test-fast` leaves them out). `tiny_bundle` is what export writes, on a tiny network, in
under a second: for the tests of what happens to a bundle after export."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from paddy_edge.config import Params, SampleParams, deep_merge, parse_params, read_yaml
from paddy_edge.smoke import build_workspace, workspace_env

ROOT = Path(__file__).resolve().parents[1]

# Under pytest-xdist (make test: -n 2) each worker's processes would start a thread pool per core, and
# two workers' torch pools on 2 cores stall each other at every barrier (the smoke pipeline took 650 s
# instead of about 200). Each worker gets its share of the cores; set OMP_NUM_THREADS to override.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

# Put into the pipeline's environment to prove that no stage logs or prints the environment.
FAKE_SECRET = "fake-kaggle-key-never-logged-42"

# Fewer benchmark rounds than the smoke profile: tests check behaviour, the bench stage measures. No test
# may depend on wall-clock speed, so both latency gates are off here (tests/code/test_gate_checks.py
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "pipeline" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.ptl, model.onnx, labels.txt and model_card.json of an untrained 32-px network with the
    real labels, written by the export stage's own write_bundle."""
    from paddy_edge import formats
    from paddy_edge.data.sample import PADDY_LABELS
    from paddy_edge.model import IMAGENET_MEAN, IMAGENET_STD, ModelSpec
    from paddy_edge.stages.export import model_metadata, tiny_network, write_bundle

    out = tmp_path_factory.mktemp("tiny_bundle")
    network = tiny_network(len(PADDY_LABELS), seed=1)
    model = ModelSpec("tiny-test-network", list(PADDY_LABELS), 32, IMAGENET_MEAN, IMAGENET_STD)
    metadata = {**model_metadata(model, "nearest", "run-of-the-tiny-bundle"), "placeholder": False}
    spec = formats.ExportSpec(model, metadata, 17)
    write_bundle(network, spec, out, name="paddy-edge-tiny", names=("lite", "onnx"))
    return out


@pytest.fixture
def tiny_sample() -> SampleParams:
    return SampleParams(images_per_class=6, test_images=3, width=48, height=64, seed=7)


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
        return self.run(sys.executable, "-m", "paddy_edge", name)

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


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    workspace = tmp_path_factory.mktemp("repo")
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
