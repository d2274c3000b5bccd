"""The champion the real `dvc repro` registered is the model evaluate measured: served through the registry
on the validation photos, it gives evaluate's answers and scores evaluate's ONNX accuracy."""

from __future__ import annotations

import json

import pandas as pd
import yaml

from paddy_edge.serving.pyfunc import encode_image

from ..helpers.pipeline import Pipeline


def test_the_registered_champion_scores_what_evaluate_measured(pipeline: Pipeline) -> None:
    import mlflow
    from mlflow import MlflowClient

    workspace = pipeline.workspace
    name = yaml.safe_load((workspace / "params.yaml").read_text())["mlflow"]["registered_model"]
    client = MlflowClient(pipeline.tracking_uri)
    champion = client.get_model_version_by_alias(name, "champion")
    run_id = json.loads((workspace / "reports/gate.json").read_text())["mlflow_run_id"]
    assert champion.run_id == run_id and champion.source.startswith("models:/m-")

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(pipeline.tracking_uri)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    finally:
        mlflow.set_tracking_uri(previous)
    validation = pd.read_csv(workspace / "reports/predictions.csv")
    photos = [encode_image((workspace / "data/raw" / image).read_bytes()) for image in validation["image"]]
    answers = model.predict(pd.DataFrame({"image": photos}), params={"k": 2})

    evaluation = json.loads((workspace / "reports/eval.json").read_text())
    assert len(answers) == evaluation["valid_images"]
    # One batch here, evaluate's batches there: ONNX Runtime's last bits may differ, so a photo whose top
    # two are within 1e-4 may flip. Every other photo gets the lite model's answer (evaluate: agreement 1).
    clear = [top[0]["probability"] - top[1]["probability"] > 1e-4 for top in answers["top_k"]]
    served, lite = answers["label"].to_numpy(), validation["predicted"].to_numpy()
    assert sum(clear) >= len(clear) - 2
    if evaluation["agreement"]["onnx"] == 1.0 and evaluation["agreement"]["lite"] == 1.0:
        assert all(s == p for s, p, c in zip(served, lite, clear, strict=True) if c)
    accuracy = float((served == validation["actual"].to_numpy()).mean())
    assert abs(accuracy - evaluation["accuracy"]["onnx"]) <= (len(clear) - sum(clear)) / len(clear)
    logged = client.get_logged_model(champion.source.removeprefix("models:/"))
    assert {m.key: m.value for m in logged.metrics}["accuracy.onnx"] == evaluation["accuracy"]["onnx"]
