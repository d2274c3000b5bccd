"""One registered version per run and export: a gate that passes again on the same files reuses the
version; a new export of the same run (other export params, same training) is a new MLflow Model that
replaces the run's older version, so the champion served is always the export the gate judged."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from paddy_edge.tracking.registry import register

from ..helpers.tracking import in_own_thread

NAME = "paddy-edge-versions"


def _bundle(out: Path, seed: int) -> Path:
    from paddy_edge import formats
    from paddy_edge.data.labels import PADDY_LABELS
    from paddy_edge.model import IMAGENET_MEAN, IMAGENET_STD, ModelSpec
    from paddy_edge.stages.export import model_metadata, tiny_network, write_bundle

    out.mkdir()
    network = tiny_network(len(PADDY_LABELS), seed=seed)
    model = ModelSpec("tiny-test-network", list(PADDY_LABELS), 32, IMAGENET_MEAN, IMAGENET_STD)
    metadata = {**model_metadata(model, "nearest", "run-of-the-tiny-bundle"), "placeholder": False}
    write_bundle(
        network, formats.ExportSpec(model, metadata, 17), out, name=NAME, names=("onnx", "executorch")
    )
    return out


@pytest.fixture
def store(tmp_path: Path):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield mlflow.MlflowClient()
    mlflow.set_tracking_uri(previous)


def _served_onnx(client: mlflow.MlflowClient, tmp_path: Path) -> bytes:
    source = client.get_model_version_by_alias(NAME, "champion").source
    local = Path(mlflow.artifacts.download_artifacts(source, dst_path=str(tmp_path / "download")))
    return (local / "artifacts/model.onnx").read_bytes()


def test_a_new_export_of_the_same_run_replaces_its_version(
    store: mlflow.MlflowClient, tiny_bundle: Path, tmp_path: Path
) -> None:
    other = _bundle(tmp_path / "other", seed=2)
    assert (other / "model.onnx").read_bytes() != (tiny_bundle / "model.onnx").read_bytes()

    def three_passes() -> tuple[dict, dict, dict]:
        with mlflow.start_run() as run:
            first = register(NAME, run.info.run_id, 0.5, tiny_bundle)
            again = register(NAME, run.info.run_id, 0.5, tiny_bundle)
            replaced = register(NAME, run.info.run_id, 0.4, other)  # lower: still this run's current export
        return first, again, replaced

    first, again, replaced = in_own_thread(three_passes)
    assert (first["version"], again["version"], again["reused"]) == (1, 1, True)

    assert replaced["version"] == 2 and not replaced["reused"] and replaced["superseded"] == [1]
    assert replaced["aliases"] == ["candidate", "champion"]
    aliases = {alias: int(v) for alias, v in store.get_registered_model(NAME).aliases.items()}
    assert aliases == {"candidate": 2, "champion": 2}
    assert store.get_model_version(NAME, "1").tags["gate"] == "superseded"
    assert _served_onnx(store, tmp_path) == (other / "model.onnx").read_bytes()
