"""A run the gate has judged keeps its verdict when a later rerun of a stage fails: the failure is a tag on
the run, and the damaged file is one message in every stage that loads it (slow: a copy of the finished
smoke workspace)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from paddy_edge import paths

from ..helpers.pipeline import Pipeline

pytestmark = pytest.mark.slow


def _only_run(clone: Pipeline):
    client = mlflow.MlflowClient(clone.tracking_uri)
    experiment = client.get_experiment_by_name("paddy-edge-smoke")
    (run,) = client.search_runs([experiment.experiment_id])
    return run


def test_a_failed_rerun_after_the_gate_keeps_the_verdict_and_names_the_damaged_file(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    judged = clone.stage("gate")
    assert judged.returncode == 0, judged.stdout + judged.stderr
    onnx = clone.workspace / paths.ONNX_MODEL
    intact = onnx.read_bytes()
    onnx.write_bytes(b"\0" * 1000)

    for stage in ("evaluate", "bench"):
        result = clone.stage(stage)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "model.onnx cannot be loaded as the onnx format" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    run = _only_run(clone)
    assert run.info.status == "FINISHED" and run.data.tags["gate"] == "passed"
    assert run.data.tags["paddy_edge.failed.evaluate"] == "failed"

    onnx.write_bytes(intact)
    assert clone.stage("evaluate").returncode == 0
    assert "paddy_edge.failed.evaluate" not in _only_run(clone).data.tags


def test_random_bytes_as_model_pte_are_one_message_not_an_abort(pipeline: Pipeline, tmp_path: Path) -> None:
    """ExecuTorch's loader aborted the process (SIGABRT, exit 134) on 4 KB of random bytes; evaluate,
    which had resumed the judged run, left it RUNNING and then KILLED."""
    import subprocess
    import sys

    import numpy as np

    clone = pipeline.clone(tmp_path / "ws")
    assert clone.stage("gate").returncode == 0
    (clone.workspace / paths.EXECUTORCH_MODEL).write_bytes(np.random.default_rng(5).bytes(4096))
    result = clone.stage("evaluate")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "model.pte is not an ExecuTorch program" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    run = _only_run(clone)
    assert run.info.status == "FINISHED" and run.data.tags["gate"] == "passed"

    check = [sys.executable, "-m", "paddy_edge.app.device_check", "--root", str(clone.workspace)]
    garbage = subprocess.run([*check, "--executorch"], capture_output=True, text=True)
    assert garbage.returncode == 2, garbage.stdout + garbage.stderr
    assert "model.pte is not an ExecuTorch program" in garbage.stderr and "Traceback" not in garbage.stderr

    lite = clone.workspace / paths.LITE_MODEL
    lite.write_bytes(lite.read_bytes()[: lite.stat().st_size // 2])
    truncated = subprocess.run(check, capture_output=True, text=True)
    assert truncated.returncode == 2, truncated.stdout + truncated.stderr
    assert "model.ptl cannot be loaded by torch" in truncated.stderr and "Traceback" not in truncated.stderr


def test_the_gate_never_registers_a_file_that_differs_from_what_was_measured(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """model.onnx truncated after a full run: MLflow only warned (INVALID_PROTOBUF), and the gate
    registered the broken file as a new champion on the earlier reports."""
    import json

    clone = pipeline.clone(tmp_path / "ws")
    assert clone.stage("gate").returncode == 0
    client = mlflow.MlflowClient(clone.tracking_uri)
    name = "paddy-edge-smoke"
    versions = {v.version for v in client.search_model_versions(f"name = '{name}'")}
    report = (clone.workspace / paths.GATE_REPORT).read_text()
    assert set(json.loads(report)["files"]) >= {"model.ptl", "model.onnx", "model.pte", "labels.txt"}

    onnx = clone.workspace / paths.ONNX_MODEL
    onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 2])
    result = clone.stage("gate")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "model.onnx is not the file export wrote and evaluate and bench measured" in " ".join(
        result.stderr.split()
    )
    assert "Traceback" not in result.stderr
    assert {v.version for v in client.search_model_versions(f"name = '{name}'")} == versions
    assert (clone.workspace / paths.GATE_REPORT).read_text() == report
