"""A real `dvc repro` of dvc.yaml with the shipped smoke profile, in a temporary copy of the repository."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import yaml

from paddy_edge.stages import STAGES as PIPELINE_STAGES

from ..helpers.params import set_params
from ..helpers.pipeline import Pipeline

STAGES = tuple(stage.name for stage in PIPELINE_STAGES)


def test_every_stage_ran_and_the_gates_passed(pipeline: Pipeline) -> None:
    output = pipeline.first_run.stdout
    for stage in STAGES:
        assert f"Running stage '{stage}'" in output
    assert "All gates passed" in output
    gate = json.loads((pipeline.workspace / "reports/gate.json").read_text())
    assert gate["passed"] is True and all(check["passed"] for check in gate["checks"])
    lock = yaml.safe_load((pipeline.workspace / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"check-params", *STAGES}


def test_a_second_repro_does_nothing_and_says_so(pipeline: Pipeline) -> None:
    again = pipeline.dvc("repro")
    assert again.returncode == 0, again.stderr
    assert "Running stage" not in again.stdout
    assert "Data and pipelines are up to date." in again.stdout


def test_changing_only_a_gate_threshold_reruns_only_the_gate(pipeline: Pipeline, tmp_path: Path) -> None:
    clone = pipeline.clone(tmp_path / "threshold", dvc_cache=True)
    set_params(clone.workspace, gates={"min_agreement": 0.85})

    status = clone.dvc("status")
    assert "gate:" in status.stdout and "train:" not in status.stdout
    rerun = clone.dvc("repro")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    ran = [stage for stage in STAGES if f"Running stage '{stage}'" in rerun.stdout]
    assert ran == ["gate"] and "Running stage 'check-params'" in rerun.stdout  # it checks any change
    # The run shows the threshold of this rerun (a tag: MLflow params cannot change once logged).
    report = json.loads((clone.workspace / "reports/gate.json").read_text())
    run = mlflow.MlflowClient(clone.tracking_uri).get_run(report["mlflow_run_id"])
    assert run.data.tags["params.gates.min_agreement"] == "0.85"
    assert report["registry"]["aliases"] == ["candidate", "champion"]  # the clone's own, empty registry
