"""A team's MLflow: `make mlflow-server` started for real on a loopback port (SQLite backend, artifacts
proxied by the server), the smoke pipeline's `dvc repro` logging to it over HTTP, and what the REST
client then finds there: the run, its artifacts (served by the server, not written by the client), the
registered version and its aliases. Then the server dies in the middle of training: one message, no
half-written model."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from ..helpers import ROOT
from ..helpers.cli import start_cli
from ..helpers.params import set_params
from ..helpers.pipeline import Pipeline
from ..helpers.servers import MlflowServer, start_mlflow_server

EXPERIMENT = "paddy-edge-smoke"  # profiles/smoke.yaml
MODEL_NAME = "paddy-edge-smoke"
HANG_GUARD_S = 600  # only so that a regression cannot hang the suite; no test measures time


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MlflowServer]:
    running = start_mlflow_server(ROOT, tmp_path / "mlflow-server")
    try:
        yield running
    finally:
        running.kill()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_pipeline_logs_runs_artifacts_and_aliases_to_make_mlflow_server(
    pipeline: Pipeline, server: MlflowServer, tmp_path: Path
) -> None:
    clone = pipeline.clone(tmp_path / "ws", dvc_cache=True)
    # A shorter training and two formats, so dvc reruns every stage in about a minute; gates it passes.
    set_params(
        clone.workspace,
        train={"epochs": 2},
        export={"formats": ["executorch", "onnx"]},
        gates={"min_accuracy": 0.0, "max_accuracy_drop": 1.0, "min_agreement": 0.0},
    )
    clone.env["MLFLOW_TRACKING_URI"] = server.url
    result = clone.dvc("repro")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    for stage in ("train", "export", "evaluate", "bench", "gate"):
        assert f"Running stage '{stage}'" in result.stdout, stage

    client = mlflow.MlflowClient(server.url)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, [r.info.run_name for r in runs]  # every stage resumed train's run
    run = runs[0]
    assert run.info.status == "FINISHED" and run.data.tags["gate"] == "passed"
    assert run.data.params["train.epochs"] == "2"
    assert {"accuracy.executorch", "accuracy.onnx", "gate.passed"} <= set(run.data.metrics)
    # Artifacts went through the server (mlflow-artifacts:/...), into its folder, not the client's.
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/model.pte", "model/model_card.json", "model/labels.txt"} <= logged
    fetched = Path(client.download_artifacts(run.info.run_id, "model/model.pte", str(tmp_path / "dl")))
    assert _sha256(fetched) == _sha256(clone.workspace / "models/export/model.pte")
    assert list((server.folder / "artifacts").rglob("model.pte"))
    assert not (clone.workspace / "mlartifacts").exists() and not (clone.workspace / "mlflow.db").exists()
    # The registry on the server: the gated version is candidate and, as the first, champion.
    for alias in ("candidate", "champion"):
        version = client.get_model_version_by_alias(MODEL_NAME, alias)
        assert version.run_id == run.info.run_id and version.tags.get("gate") == "passed", alias


def _running_on(server: MlflowServer) -> bool:
    database = server.folder / "mlflow.db"
    if not database.exists():
        return False
    try:
        with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as store:
            return bool(store.execute("SELECT 1 FROM runs WHERE status = 'RUNNING'").fetchall())
    except sqlite3.Error:
        return False


def test_a_server_that_dies_mid_training_fails_the_stage_with_one_message_and_no_model(
    pipeline: Pipeline, server: MlflowServer, tmp_path: Path
) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    set_params(clone.workspace, train={"epochs": 20})  # long enough to be killed in the middle
    weights = clone.workspace / "models/trained/weights.safetensors"
    before = _sha256(weights)
    env = {**clone.env, "MLFLOW_TRACKING_URI": server.url}
    train = start_cli("train", cwd=clone.workspace, env=env)
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while not _running_on(server) and train.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert train.poll() is None, "train ended before the server was killed"
        server.kill()
        stdout, stderr = train.communicate(timeout=HANG_GUARD_S)
    finally:
        if train.poll() is None:
            train.kill()
    assert train.returncode == 2, stdout[-3000:] + stderr[-3000:]
    assert "Traceback" not in stderr
    message = " ".join(stderr.split())
    assert f"cannot reach the MLflow tracking server at {server.url} (connection refused)" in message
    assert _sha256(weights) == before  # the model of the last good run, untouched
    leftovers = [p.name for p in (clone.workspace / "models").iterdir() if p.name.startswith(".")]
    assert not leftovers
