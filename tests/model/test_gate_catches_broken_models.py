"""A model that learned nothing must not pass the gate, nor be registered."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import torch
from safetensors.torch import load_file, save_file

from ..conftest import Pipeline


def _new_run(clone: Pipeline, experiment: str) -> str:
    """The run that train would have opened, in the clone's own store."""
    mlflow.set_tracking_uri(clone.tracking_uri)
    experiment_id = mlflow.create_experiment(
        experiment, artifact_location=(clone.workspace / "mlartifacts").as_uri()
    )
    run = mlflow.MlflowClient().create_run(experiment_id)
    (clone.workspace / "models/trained/mlflow_run.json").write_text(json.dumps({"run_id": run.info.run_id}))
    return run.info.run_id


def test_zeroed_weights_fail_the_gate(pipeline: Pipeline, tmp_path: Path) -> None:
    clone = pipeline.clone(tmp_path / "broken")
    weights = clone.workspace / "models/trained/weights.safetensors"
    save_file({k: torch.zeros_like(v) for k, v in load_file(str(weights)).items()}, str(weights))
    run_id = _new_run(clone, "paddy-edge-smoke")

    for stage in ("export", "evaluate", "bench"):
        result = clone.stage(stage)
        assert result.returncode == 0, result.stdout + result.stderr
    gate = clone.stage("gate")

    assert gate.returncode == 1
    assert "FAIL" in gate.stdout and "not registered" in gate.stdout
    report = json.loads((clone.workspace / "reports/gate.json").read_text())
    failed = {check["name"] for check in report["checks"] if not check["passed"]}
    assert failed == {"accuracy (lite)"}
    client = mlflow.MlflowClient(clone.tracking_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["gate"] == "failed"
    assert client.search_registered_models() == []


def test_shuffled_labels_fail_the_gate(pipeline: Pipeline, tmp_path: Path) -> None:
    """The right network with its labels in the wrong order: files look fine, answers are wrong."""
    clone = pipeline.clone(tmp_path / "shuffled")
    vocab_path = clone.workspace / "models/trained/vocab.json"
    vocab = json.loads(vocab_path.read_text())
    vocab["labels"] = vocab["labels"][3:] + vocab["labels"][:3]
    vocab_path.write_text(json.dumps(vocab))
    _new_run(clone, "paddy-edge-smoke")
    for stage in ("export", "evaluate", "bench"):
        assert clone.stage(stage).returncode == 0
    gate = clone.stage("gate")
    assert gate.returncode == 1
    accuracy = json.loads((clone.workspace / "reports/eval.json").read_text())["accuracy"]["lite"]
    assert accuracy < 0.3
