"""Pretrained weights that cannot be downloaded: one clear message, and the previous model stays."""

from __future__ import annotations

import hashlib
from pathlib import Path

import mlflow

from ..helpers.params import set_params
from ..helpers.pipeline import Pipeline


def test_pretrained_offline_says_to_turn_it_off(pipeline: Pipeline, tmp_path: Path) -> None:
    clone = pipeline.clone(tmp_path / "offline")
    set_params(clone.workspace, train={"pretrained": True})
    clone.env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "empty-hf-cache"))
    weights = clone.workspace / "models/trained/weights.safetensors"
    before = hashlib.sha256(weights.read_bytes()).hexdigest()

    result = clone.stage("train")

    assert result.returncode == 2
    assert "could not load pretrained weights for edgenext_xx_small" in result.stderr
    assert "train.pretrained: false" in result.stderr and "Traceback" not in result.stderr
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == before
    client = mlflow.MlflowClient(clone.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("paddy-edge-smoke").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
