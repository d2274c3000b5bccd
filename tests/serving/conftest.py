"""A gated model registered the way the gate registers it (paddy_edge.tracking.registry.register), from
the tiny bundle, in a real SQLite store of its own: what `make serve`, `make demo` and the load test serve."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..helpers import ROOT
from ..helpers.servers import ModelServer, start_model_server
from ..helpers.tracking import in_own_thread

MODEL_NAME = "paddy-edge-test"


@dataclass(frozen=True)
class ServedModel:
    tracking_uri: str
    name: str
    model_uri: str  # models:/<name>@champion
    version: int
    export_dir: Path  # the bundle it was logged from
    env: dict[str, str]  # for a subprocess: this store, nothing else of MLflow's


@pytest.fixture(scope="session")
def served_model(tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path) -> ServedModel:
    import mlflow

    from paddy_edge.tracking.registry import register

    store = tmp_path_factory.mktemp("served-store")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment("served", artifact_location=(store / "mlartifacts").as_uri())

        def log_and_register() -> dict:
            with mlflow.start_run(experiment_id=experiment) as run:
                mlflow.log_artifacts(str(tiny_bundle), "model")  # as export logs its folder
                return register(MODEL_NAME, run.info.run_id, 0.5, tiny_bundle, {"accuracy.onnx": 0.5})

        registry = in_own_thread(log_and_register)
    finally:
        mlflow.set_tracking_uri(previous)
    assert registry["aliases"] == ["candidate", "champion"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = uri
    model_uri = f"models:/{MODEL_NAME}@champion"
    return ServedModel(uri, MODEL_NAME, model_uri, registry["version"], tiny_bundle, env)


@pytest.fixture(scope="module")
def server(served_model: ServedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """`make serve` of the served model, for one test module."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    running = start_model_server(ROOT, served_model.env, served_model.name, log)
    yield running
    running.stop()
