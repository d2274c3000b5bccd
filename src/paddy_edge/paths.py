"""Where every stage reads and writes (relative to the repository root, as dvc.yaml runs them).
How an output lands there is runtime/outputs.py's.

Standard library only: the workflows' scripts (paddy_edge.ci) use it without the pipeline's venv."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from paddy_edge.errors import UserError

PARAMS = Path("params.yaml")

RAW = Path("data/raw")  # the Kaggle layout: train.csv, train_images/<label>/*.jpg, test_images/, ...
PREPARED = Path("data/prepared")
MANIFEST = PREPARED / "manifest.csv"  # image, source, label, split

TRAINED = Path("models/trained")
WEIGHTS = TRAINED / "weights.safetensors"
MODEL_SPEC = TRAINED / "model_spec.json"  # architecture, labels, input size, mean/std
RUN_INFO = TRAINED / "mlflow_run.json"

EXPORTED = Path("models/export")  # every format's file: each format's entry in paddy_edge.formats names it
# The format files that rooms without the registry name (it needs numpy): the app's model, the served
# model's, and what the device check runs. Every other format's file is named by its entry alone.
LITE_MODEL = EXPORTED / "model.ptl"
ONNX_MODEL = EXPORTED / "model.onnx"
EXECUTORCH_MODEL = EXPORTED / "model.pte"
EXECUTORCH_INT8_MODEL = EXPORTED / "model.int8.pte"
PHONE_MODEL = (
    EXECUTORCH_MODEL  # the program the app runs (the registry's phone format; a test holds them equal)
)
EXPORT_LABELS = EXPORTED / "labels.txt"
MODEL_CARD = EXPORTED / "model_card.json"
LITE_METADATA = "metadata.json"  # inside model.ptl: the card's facts, travelling with the model

REPORTS = Path("reports")
DATA_REPORT = REPORTS / "data_report.json"
TRAIN_HISTORY = REPORTS / "train_history.csv"
TRAIN_METRICS = REPORTS / "train_metrics.json"
EVAL_METRICS = REPORTS / "eval.json"
PER_CLASS = REPORTS / "per_class.csv"  # precision, recall, F1 per class: a DVC plot (a bar chart of F1)
CONFUSION_PNG = REPORTS / "confusion.png"
PREDICTIONS = REPORTS / "predictions.csv"
BENCH_RAW = REPORTS / "benchmark.json"
BENCH_SUMMARY = REPORTS / "bench.json"
FORMATS_CSV = REPORTS / "formats.csv"  # size against latency per format: a DVC plot
FORMATS_PNG = REPORTS / "formats.png"
GATE_REPORT = REPORTS / "gate.json"
DEVICE_REPORT = REPORTS / "device_check.json"  # make device-check, outside dvc.yaml
DEVICE_EXECUTORCH_REPORT = REPORTS / "device_check_executorch.json"

# What each stage writes: dvc.yaml's outs, metrics and plots say the same (tests/pipeline/test_dvc_deps.py).
OUTPUTS = {
    "fetch": (RAW,),
    "prepare": (PREPARED, DATA_REPORT),
    "train": (TRAINED, TRAIN_METRICS, TRAIN_HISTORY),
    "export": (EXPORTED,),
    "evaluate": (EVAL_METRICS, PER_CLASS, PREDICTIONS, CONFUSION_PNG),
    "bench": (BENCH_RAW, BENCH_SUMMARY, FORMATS_CSV, FORMATS_PNG),
    "gate": (GATE_REPORT,),
}

FLUTTER_APP = Path("flutter_app")
SMOKE_WORKSPACE = Path(".smoke")
SMOKE_PROFILE = Path("profiles/smoke.yaml")

MLFLOW_DEFAULT_URI = "sqlite:///mlflow.db"


def read_lite_metadata(model: Path) -> dict:
    """The metadata export put inside a .ptl, read as the zip it is: no torch needed (the APK job)."""
    try:
        with zipfile.ZipFile(model) as archive:
            name = next(n for n in archive.namelist() if n.endswith(f"/extra/{LITE_METADATA}"))
            return json.loads(archive.read(name))
    except (OSError, zipfile.BadZipFile, StopIteration, json.JSONDecodeError):
        raise UserError(
            f"{model} is not a lite TorchScript model with paddy-edge metadata: export again"
        ) from None
