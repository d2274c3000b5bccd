"""Where every stage reads and writes (relative to the repository root, as dvc.yaml runs them),
and how outputs land: built under a temporary name and moved into place only on success."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from paddy_edge.errors import UserError

PARAMS = Path("params.yaml")

RAW = Path("data/raw")  # the Kaggle layout: train.csv, train_images/<label>/*.jpg, test_images/, ...
PREPARED = Path("data/prepared")
MANIFEST = PREPARED / "manifest.csv"  # image, source, label, split

TRAINED = Path("models/trained")
WEIGHTS = TRAINED / "weights.safetensors"
VOCAB = TRAINED / "vocab.json"
RUN_INFO = TRAINED / "mlflow_run.json"

EXPORTED = Path("models/export")
LITE_MODEL = EXPORTED / "model.ptl"
ONNX_MODEL = EXPORTED / "model.onnx"
EXPORT_LABELS = EXPORTED / "labels.txt"
MODEL_CARD = EXPORTED / "model_card.json"

REPORTS = Path("reports")
DATA_REPORT = REPORTS / "data_report.json"
TRAIN_HISTORY = REPORTS / "train_history.csv"
TRAIN_METRICS = REPORTS / "train_metrics.json"
EVAL_METRICS = REPORTS / "eval.json"
PER_CLASS = REPORTS / "per_class.json"
CONFUSION_PNG = REPORTS / "confusion.png"
PREDICTIONS = REPORTS / "predictions.csv"
BENCH_RAW = REPORTS / "benchmark.json"
BENCH_SUMMARY = REPORTS / "bench.json"
GATE_REPORT = REPORTS / "gate.json"

MLFLOW_DEFAULT_URI = "sqlite:///mlflow.db"


def _temp_sibling(final: Path, suffix: str = "") -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp" + suffix, dir=final.parent))


def _replace(built: Path, final: Path) -> None:
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)
    elif final.exists() or final.is_symlink():
        final.unlink()
    os.replace(built, final)


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield an empty directory beside `final`; it becomes `final` only if the block succeeds."""
    work = _temp_sibling(final)
    try:
        yield work
        _replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """Yield a path to write; it becomes `final` only if the block succeeds."""
    work = _temp_sibling(final)
    target = work / final.name
    try:
        yield target
        if not target.exists():
            raise RuntimeError(f"{final} was not written")
        _replace(target, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_json(path: Path, payload: Any) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")


def read_json(path: Path, made_by: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise_missing(path, made_by)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}): rerun `dvc repro -f {made_by}`") from None


def raise_missing(path: Path, made_by: str) -> None:
    if not path.exists():
        raise UserError(
            f"{path} is missing: it is written by the '{made_by}' stage; run `dvc repro {made_by}`"
        )
