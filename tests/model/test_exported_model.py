"""The exported files, as the phone and the app's tooling will read them."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pandas as pd
import pytest

from ..helpers.cli import cli
from ..helpers.pipeline import Pipeline


@pytest.fixture
def card(pipeline: Pipeline) -> dict:
    return json.loads((pipeline.workspace / "models/export/model_card.json").read_text())


def test_labels_file_has_one_line_per_class_and_no_trailing_newline(pipeline: Pipeline, card: dict) -> None:
    text = (pipeline.workspace / "models/export/labels.txt").read_text()
    assert not text.endswith("\n")
    assert text.split("\n") == card["labels"]
    assert len(card["labels"]) == card["num_classes"] == 10


def test_card_checksums_and_sizes_match_the_files(pipeline: Pipeline, card: dict) -> None:
    for name, info in card["files"].items():
        data = (pipeline.workspace / "models/export" / name).read_bytes()
        assert info == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert card["input"]["resize"] == "squish" and card["placeholder"] is False


def test_lite_metadata_round_trips(pipeline: Pipeline, card: dict) -> None:
    from paddy_edge.paths import read_lite_metadata

    embedded = read_lite_metadata(pipeline.workspace / "models/export/model.ptl")
    for key in ("architecture", "labels", "input", "mlflow_run_id", "mobile_optimized"):
        assert embedded[key] == card[key], key
    assert embedded["input"]["height"] == embedded["input"]["width"] == 96


def test_lite_and_onnx_agree_with_eager_on_real_prepared_images(
    pipeline: Pipeline, card: dict, monkeypatch
) -> None:
    from paddy_edge.formats import runner
    from paddy_edge.phone.preprocess import load_app_input

    monkeypatch.chdir(pipeline.workspace)
    manifest = pd.read_csv("data/prepared/manifest.csv")
    images = [
        pipeline.workspace / "data/prepared" / p for p in manifest[manifest.split == "valid"].image[:12]
    ]
    batch = np.stack([load_app_input(p, card["input"]) for p in images])
    eager = runner("eager")(batch)
    lite = np.concatenate([runner("lite")(batch[i : i + 1]) for i in range(len(batch))])
    onnx = runner("onnx")(batch)  # a batch of 12 through the dynamic batch axis
    assert eager.shape == (12, 10)
    assert np.abs(lite - eager).max() < 1e-4
    assert np.abs(onnx - eager).max() < 1e-3
    assert (lite.argmax(1) == eager.argmax(1)).all() and (onnx.argmax(1) == eager.argmax(1)).all()


def test_predict_answers_every_image_and_names_the_bad_file(pipeline: Pipeline) -> None:
    photos = sorted((pipeline.workspace / "data/raw/train_images/tungro").glob("*.jpg"))[:2]
    not_an_image = pipeline.workspace / "data/raw/train.csv"
    result = cli("predict", *map(str, photos), str(not_an_image), cwd=pipeline.workspace, env=pipeline.env)
    assert result.returncode == 1
    assert "train.csv: not an image" in result.stdout
    for photo in photos:
        assert photo.name in result.stdout
    assert result.stdout.count("%") == 2 * 3, "top-3 labels with probabilities for each photo"


def test_the_executorch_program_gives_the_pipelines_answers_in_executorch_runtime(pipeline: Pipeline) -> None:
    """`make device-check`'s ExecuTorch half: model.pte, run in executorch.runtime on the validation
    photos preprocessed as the app does, agrees with the pipeline's evaluation; the report says so."""
    import subprocess

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "paddy_edge.app.device_check",
            "--root",
            str(pipeline.workspace),
            "--executorch",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS: the app's ExecuTorch program (executorch) gives the pipeline's answers" in result.stdout
    report = json.loads((pipeline.workspace / "reports/device_check_executorch.json").read_text())
    assert report["executorch"]["agreement_with_pipeline"] == 1.0
    assert "executorch_int8" not in report  # the tests' pipeline leaves it out (TEST_OVERLAY)
