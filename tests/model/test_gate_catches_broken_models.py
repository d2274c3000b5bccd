"""A model that learned nothing must not pass the gate, nor be registered."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import torch
from safetensors.torch import load_file, save_file

from ..helpers.pipeline import Pipeline


def test_zeroed_weights_fail_the_gate(pipeline: Pipeline, tmp_path: Path) -> None:
    clone = pipeline.clone(tmp_path / "broken")
    weights = clone.workspace / "models/trained/weights.safetensors"
    save_file({k: torch.zeros_like(v) for k, v in load_file(str(weights)).items()}, str(weights))

    for stage in ("export", "evaluate", "bench"):
        result = clone.stage(stage)
        assert result.returncode == 0, result.stdout + result.stderr
    gate = clone.stage("gate")

    assert gate.returncode == 1
    assert "FAIL" in gate.stdout and "not registered" in gate.stdout
    report = json.loads((clone.workspace / "reports/gate.json").read_text())
    failed = {check["name"] for check in report["checks"] if not check["passed"]}
    assert failed == {"accuracy (executorch)"}
    # The clone's store has never seen train's run: the later stages share one stand-in run.
    client = mlflow.MlflowClient(clone.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("paddy-edge-smoke").experiment_id])
    assert len(runs) == 1 and runs[0].data.tags["paddy_edge.restored"] == "true"
    run = runs[0]
    assert run.info.status == "FAILED" and run.data.tags["gate"] == "failed"
    assert {"accuracy.executorch", "latency_ms.executorch", "gate.passed"} <= set(run.data.metrics)
    assert client.search_registered_models() == []


def test_shuffled_labels_fail_the_gate(pipeline: Pipeline, tmp_path: Path) -> None:
    """The right network with its labels in the wrong order: files look fine, answers are wrong."""
    clone = pipeline.clone(tmp_path / "shuffled")
    vocab_path = clone.workspace / "models/trained/model_spec.json"
    vocab = json.loads(vocab_path.read_text())
    vocab["labels"] = vocab["labels"][3:] + vocab["labels"][:3]
    vocab_path.write_text(json.dumps(vocab))
    for stage in ("export", "evaluate", "bench"):
        assert clone.stage(stage).returncode == 0
    gate = clone.stage("gate")
    assert gate.returncode == 1
    accuracy = json.loads((clone.workspace / "reports/eval.json").read_text())["accuracy"]["executorch"]
    assert accuracy < 0.3


def test_a_pull_request_run_passes_the_gate_without_touching_the_registry(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """CI sets PADDY_EDGE_REGISTER=false on pull requests: they log, but only main and tags register."""
    clone = pipeline.clone(tmp_path / "pr")
    clone.env["PADDY_EDGE_REGISTER"] = "false"
    gate = clone.stage("gate")

    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "Not registered: PADDY_EDGE_REGISTER is false" in gate.stdout
    report = json.loads((clone.workspace / "reports/gate.json").read_text())
    assert report["passed"] and "registry" not in report
    assert report["registry_skipped"] == "PADDY_EDGE_REGISTER=false"
    client = mlflow.MlflowClient(clone.tracking_uri)
    assert client.search_registered_models() == []
    run = client.get_run(report["mlflow_run_id"])
    assert run.data.tags["gate"] == "passed" and run.data.metrics["gate.passed"] == 1.0


def test_int8_formats_calibrated_on_black_photos_fail_their_gates(pipeline: Pipeline, tmp_path: Path) -> None:
    """Every training photo the calibration reads is black: the int8 formats learn activation ranges of
    nothing and clip real photos. Their own gates fail; the fp32 formats, uncalibrated, still pass."""
    import pandas as pd
    from PIL import Image

    clone = pipeline.clone(tmp_path / "black")
    manifest = pd.read_csv(clone.workspace / "data/prepared/manifest.csv")
    for source in manifest[manifest["split"] == "train"]["source"]:
        photo = clone.workspace / "data/raw" / source
        Image.new("RGB", Image.open(photo).size).save(photo, format="JPEG")
    for stage in ("export", "evaluate", "bench"):
        result = clone.stage(stage)
        assert result.returncode == 0, result.stdout + result.stderr
    gate = clone.stage("gate")
    assert gate.returncode == 1, gate.stdout
    report = json.loads((clone.workspace / "reports/gate.json").read_text())
    failed = {check["name"] for check in report["checks"] if not check["passed"]}
    int8 = ("onnx_int8", "openvino_int8")  # the int8 formats of the tests' pipeline
    assert failed and all(any(f"({fmt}" in name for fmt in int8) for name in failed), failed
    assert any("(onnx_int8" in name for name in failed), failed
