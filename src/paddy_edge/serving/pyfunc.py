"""The gated model as an MLflow Model: a pyfunc that takes photos and answers the top-k labels.

It runs the exported ONNX model with the app's preprocessing (paddy_edge.phone, the code evaluate and
predict use), so a served answer is the phone's answer. Input: a DataFrame whose `image` column holds the
base64 of photo files (JPEG, PNG, ...); params: `k`. Output, one row per photo: `label`, `probability`
(the top one) and `top_k` (a list of {label, probability}, best first). A photo that cannot be used
(not an image, a decompression bomb, not base64) is an MlflowException naming its row, which
`mlflow models serve` answers with HTTP 400.

The model carries its own code: this file (the model's code), and the phone package's files as they are,
as the package `paddy_edge_phone` (code_paths). Both import only numpy, pillow, pandas, onnxruntime and
mlflow. A process without this project installed can serve it, and one with a newer checkout (make demo)
still runs the code the gate judged: under its own name, the checkout's `paddy_edge` cannot stand in."""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any
from unittest.mock import patch  # patch.dict: environment variables set for a block, then restored

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from mlflow.types.schema import Array, Object, Property

try:  # the copy logged with the model (on sys.path where the model is loaded or logged)
    from paddy_edge_phone.images import OVER_LIMIT, UnreadableImage, decode
    from paddy_edge_phone.preprocess import app_input, softmax
except ModuleNotFoundError as missing:  # this checkout's module, imported by its own code
    if missing.name != "paddy_edge_phone":
        raise
    from paddy_edge.phone.images import OVER_LIMIT, UnreadableImage, decode
    from paddy_edge.phone.preprocess import app_input, softmax

COLUMN = "image"
DEFAULT_K = 3
# Limits of the server, set where the model is served (make serve SERVE_MAX_PIXELS=N SERVE_DECODES=N),
# not when it is logged. A photo costs about 30 bytes per pixel while it is decoded and shrunk: PIL's own
# limit (89 million) let one 79 KB PNG of 9000 x 9000 hold 250 MB for 2.6 s, and ten at once 2.5 GB.
MAX_PIXELS_ENV = "PADDY_EDGE_SERVE_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 24_000_000  # 6000 x 4000: a phone's or a camera's full photo; the model sees 224 x 224
DECODES_ENV = "PADDY_EDGE_SERVE_DECODES"
DEFAULT_DECODES = 2  # photos decoded at once in one server process; the others wait their turn
# The served model's own files: what predict reads, and the phone's model beside it. Written out, not
# from paths.py: this module ships inside the model, which imports no paddy_edge (a test holds them equal).
ARTIFACTS = {
    "onnx": "model.onnx",
    "model_card": "model_card.json",
    "labels": "labels.txt",
    "phone": "model.pte",
}
# What the model needs installed, pinned to this environment's versions (MLflow writes requirements.txt).
REQUIREMENTS = ("mlflow", "onnxruntime", "numpy", "pandas", "pillow")
# The phone package, copied into the model byte for byte as a package of its own name (code_paths).
CODE_PACKAGE = "paddy_edge_phone"

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", COLUMN)]),
    outputs=Schema(
        [
            ColSpec("string", "label"),
            ColSpec("double", "probability"),
            ColSpec(Array(Object([Property("label", "string"), Property("probability", "double")])), "top_k"),
        ]
    ),
    params=ParamSchema([ParamSpec("k", "long", DEFAULT_K)]),
)


def encode_image(data: bytes) -> str:
    """A photo file's bytes as the `image` column wants them."""
    return base64.b64encode(data).decode("ascii")


def bad_input(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)  # HTTP 400 when served


def _photo_bytes(value: Any, row: int) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        what = type(value).__name__
        raise bad_input(f"row {row}: '{COLUMN}' must be the base64 of a photo file, not {what}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_input(f"row {row}: '{COLUMN}' is not base64 (encode the photo file's bytes)") from None


def serving_limit(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise MlflowException(f"{name}={raw!r}: give a whole number of at least 1 (or unset it: {default:,})")
    return int(raw)


def _top_k(probabilities: np.ndarray, labels: list[str], k: int) -> list[dict[str, Any]]:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [{"label": labels[i], "probability": float(probabilities[i])} for i in order]


class PhotoClassifier(mlflow.pyfunc.PythonModel):
    """Photos (base64) -> top-k labels, with the ONNX model and the app's preprocessing."""

    def load_context(self, context: Any) -> None:
        import onnxruntime as ort

        self.card = json.loads(Path(context.artifacts["model_card"]).read_text())
        self.session = ort.InferenceSession(context.artifacts["onnx"], providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.max_pixels = serving_limit(MAX_PIXELS_ENV, DEFAULT_MAX_PIXELS)
        self.decoding = threading.BoundedSemaphore(serving_limit(DECODES_ENV, DEFAULT_DECODES))

    def _pixels(self, data: bytes, row: int) -> np.ndarray:
        spec = self.card["input"]
        resample = spec.get("resample", "nearest")
        with self.decoding:  # held until the photo is shrunk to the model's input: its pixels are freed then
            try:
                rgb = decode(data, max_pixels=self.max_pixels).rgb
            except UnreadableImage as exc:
                hint = (
                    f"; send a smaller photo (the server's limit is {MAX_PIXELS_ENV})"
                    if exc.kind == OVER_LIMIT
                    else ""
                )
                raise bad_input(f"row {row}: not a usable photo ({exc}){hint}") from None
            return app_input(rgb, spec["width"], spec["height"], spec["mean"], spec["std"], resample)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None):
        labels = self.card["labels"]
        k = (params or {}).get("k", DEFAULT_K)
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= len(labels):
            raise bad_input(f"params 'k' is {k!r}: give a whole number from 1 to {len(labels)}")
        if not isinstance(model_input, pd.DataFrame) or COLUMN not in model_input.columns:
            found = list(model_input.columns) if isinstance(model_input, pd.DataFrame) else type(model_input)
            raise bad_input(f"the input needs a column '{COLUMN}' (base64 photos); got {found}")
        photos = [_photo_bytes(value, row) for row, value in enumerate(model_input[COLUMN])]
        if not photos:
            raise bad_input(f"no photos: the '{COLUMN}' column is empty")
        batch = np.stack([self._pixels(data, row) for row, data in enumerate(photos)])
        logits = self.session.run(None, {self.input_name: batch})[0]
        ranked = [_top_k(row, labels, int(k)) for row in softmax(logits)]
        return pd.DataFrame(
            {
                "label": [top[0]["label"] for top in ranked],
                "probability": [top[0]["probability"] for top in ranked],
                "top_k": ranked,
            }
        )


def example_photo() -> bytes:
    """A small generated JPEG for the model's input example (no dataset photo leaves the pipeline)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    pixels[..., 1] = np.maximum(pixels[..., 1], 128)  # a greenish leaf-coloured noise
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=85)
    return out.getvalue()


def _code_package(into: Path) -> Path:
    """`paddy_edge_phone/`: the phone package's files, unchanged (they import each other relatively)."""
    source, package = Path(__file__).resolve().parents[1] / "phone", into / CODE_PACKAGE
    package.mkdir(parents=True)
    for file in sorted(source.glob("*.py")):
        shutil.copyfile(file, package / file.name)
    return package


@contextmanager
def _importable(folder: Path) -> Iterator[None]:
    """MLflow runs the model's code file once while logging it, before code_paths is on sys.path. After,
    the package is forgotten, so that the next load imports the copy logged with its model."""
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for module in [m for m in sys.modules if m == CODE_PACKAGE or m.startswith(f"{CODE_PACKAGE}.")]:
            del sys.modules[module]


# Not "model": the run's export folder is logged under model/, and MLflow lists a run's logged model of
# name X together with the run's X/ folder (runs:/<run>/X), which would mix the two.
LOGGED_NAME = "served_model"


def log_model(export_dir: Path, name: str = LOGGED_NAME) -> Any:
    """Log the export folder's model as an MLflow Model in the active run; returns its ModelInfo."""
    artifacts = {key: str(export_dir / file) for key, file in ARTIFACTS.items()}
    requirements = [f"{package}=={version(package)}" for package in REQUIREMENTS]
    example = pd.DataFrame({COLUMN: [encode_image(example_photo())]})
    quiet = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}  # its check of the example draws four bars
    with tempfile.TemporaryDirectory(prefix="paddy-edge-code-") as scratch, patch.dict(os.environ, quiet):
        package = _code_package(Path(scratch))
        with _importable(Path(scratch)):
            return mlflow.pyfunc.log_model(
                name=name,
                python_model=str(Path(__file__).resolve()),  # models from code: nothing is unpickled
                artifacts=artifacts,
                code_paths=[str(package)],
                signature=SIGNATURE,
                input_example=(example, {"k": DEFAULT_K}),
                pip_requirements=requirements,
            )


# What MLflow serves when it loads this file as the model's code (log_model passes the file, not a pickle).
mlflow.models.set_model(PhotoClassifier())
