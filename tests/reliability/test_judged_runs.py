"""A run the gate has judged keeps its verdict when a later rerun of a stage fails: the failure is a tag on
the run, and the damaged file is one message in every stage that loads it (slow: a copy of the finished
smoke workspace)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from paddy_edge import paths

from ..conftest import Pipeline

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
