"""One MLflow run holds the whole story: params, per-epoch curves, every stage's metrics and files."""

from __future__ import annotations

import json

import mlflow
import pytest

from ..helpers.pipeline import FAKE_SECRET, Pipeline


@pytest.fixture
def run(pipeline: Pipeline):
    client = mlflow.MlflowClient(pipeline.tracking_uri)
    experiment = client.get_experiment_by_name("paddy-edge-smoke")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, "one run per trained model"
    return client, runs[0]


def test_run_holds_params_metrics_and_tags_of_every_stage(pipeline: Pipeline, run) -> None:
    client, found = run
    run_id = json.loads((pipeline.workspace / "models/trained/mlflow_run.json").read_text())["run_id"]
    assert found.info.run_id == run_id and found.info.status == "FINISHED"
    params, metrics, tags = found.data.params, found.data.metrics, found.data.tags
    assert params["train.arch"] == "edgenext_xx_small" and params["data.source"] == "sample"
    history = client.get_metric_history(run_id, "valid_loss")
    assert [m.step for m in history] == list(range(int(params["train.epochs"])))
    for key in (
        "data.images",
        "accuracy.eager",
        "accuracy.lite",
        "accuracy.onnx",
        "agreement.lite",
        "max_abs_prob_diff.onnx",
        "size_mb.lite",
        "latency_ms.lite",
        "fps.onnx",
        "gate.passed",
    ):
        assert key in metrics, key
    assert metrics["gate.passed"] == 1.0 and tags["gate"] == "passed"
    # Each stage logs the params it reads: train's as params, the later stages' as tags.
    assert {name.split(".")[0] for name in params} == {"train", "data", "mlflow"}
    assert tags["params.export.onnx_opset"] == "17" and tags["params.evaluate.resample"] == "nearest"
    assert tags["params.evaluate.batch_size"] == "32" and tags["params.bench.threads"] == "2"
    assert tags["params.gates.min_accuracy"] == "0.6"
    assert tags["version.torch"].startswith("2.15") and tags["git.commit"]


def test_run_holds_the_model_files_and_reports(run) -> None:
    client, found = run
    listed = {
        a.path for folder in ("model", "reports") for a in client.list_artifacts(found.info.run_id, folder)
    }
    expected = {
        "model/model.ptl",
        "model/model.onnx",
        "model/labels.txt",
        "model/model_card.json",
        "reports/confusion.png",
        "reports/benchmark.json",
        "reports/bench.json",
        "reports/gate.json",
        "reports/train_history.csv",
        "reports/data_report.json",
        "reports/per_class.csv",
    }
    assert expected <= listed


def test_passing_model_is_registered_as_candidate_and_champion(run) -> None:
    client, found = run
    champion = client.get_model_version_by_alias("paddy-edge-smoke", "champion")
    assert champion.run_id == found.info.run_id
    assert client.get_model_version_by_alias("paddy-edge-smoke", "candidate").run_id == found.info.run_id


def test_no_secret_from_the_environment_reaches_mlflow(run) -> None:
    _, found = run
    stored = json.dumps([found.data.params, found.data.tags])
    assert FAKE_SECRET not in stored
