"""Stage export: the trained network, in eval mode on the CPU, as each format of params `export.formats`
(paddy_edge.formats: the lite model; ONNX, its int8 twin and OpenVINO; ExecuTorch fp32 (phone) and int8),
plus
- labels.txt: one label per line and no trailing newline (the app splits on "\\n");
- model_card.json: everything the app needs to feed the model, with sizes and sha256 of each file, and
  each built format's files.
The int8 formats are calibrated on `export.calibration_images` training photos, preprocessed as the app
does from the original files; with `export.qat_epochs` > 0, executorch_int8 is first fine-tuned on the
training split by quantization-aware training.

The app's untrained placeholder is the same bundle on a tiny network (`write_placeholder`)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from paddy_edge import formats, paths
from paddy_edge.config import Params
from paddy_edge.data.labels import PADDY_LABELS
from paddy_edge.errors import UserError
from paddy_edge.formats.qat import LabelledBatches, QatSpec
from paddy_edge.model import IMAGENET_MEAN, IMAGENET_STD, ModelSpec, load_trained
from paddy_edge.phone.contract import APP_OUTPUT, card_input
from paddy_edge.phone.images import UnreadableImage
from paddy_edge.phone.preprocess import load_app_input
from paddy_edge.runtime import outputs
from paddy_edge.tracking import mlflow_runs

PLACEHOLDER_ONNX_OPSET = 17


def model_metadata(
    spec: ModelSpec, resample: str, run_id: str | None, train_run_id: str | None = None
) -> dict:
    return {
        "architecture": spec.arch,
        "labels": spec.labels,
        "num_classes": len(spec.labels),
        "input": card_input(spec.image_size, spec.mean, spec.std, resample),
        "output": APP_OUTPUT,
        "mlflow_run_id": run_id,  # the run export logged into (train's, or its stand-in in a new store)
        "train_run_id": train_run_id,  # the model's identity in any store: what app-assets matches
    }


def write_bundle(
    network: torch.nn.Module,
    spec: formats.ExportSpec,
    out: Path,
    *,
    name: str,
    names: tuple[str, ...],
    seconds: dict[str, float] | None = None,
) -> dict:
    """Write each format in `names` (in the registry's order), labels.txt and model_card.json into out;
    return the card. `seconds` receives how long each format took to build (kept out of the card, which
    stays byte-identical from run to run)."""
    network = network.eval()
    facts: dict = {}
    built = [fmt for fmt in formats.REGISTRY if fmt in names]
    for fmt in built:
        entry = formats.REGISTRY[fmt]
        started = time.perf_counter()
        facts |= entry.write(network, spec, out / entry.file.name)
        if seconds is not None:
            seconds[fmt] = time.perf_counter() - started
    (out / paths.EXPORT_LABELS.name).write_text("\n".join(spec.model.labels))
    files = {
        file.name: {"bytes": file.stat().st_size, "sha256": outputs.sha256(file)}
        for file in sorted(out.iterdir())
        if file.name != paths.MODEL_CARD.name
    }
    built_formats = {
        fmt: {
            "files": [file.name for file in formats.REGISTRY[fmt].files],
            "bytes": sum(files[file.name]["bytes"] for file in formats.REGISTRY[fmt].files),
        }
        for fmt in built
    }
    card = {"name": name, **spec.metadata, **facts, "formats": built_formats, "files": files}
    phone = formats.phone_format(spec.phone_int8)
    if phone in built:
        program = formats.REGISTRY[phone].file.name
        card["phone"] = {
            "format": phone,
            "file": program,
            "sha256": files[program]["sha256"],
            "int8": spec.phone_int8,
        }
    (out / paths.MODEL_CARD.name).write_text(json.dumps(card, indent=2) + "\n")
    return card


def tiny_network(num_classes: int, seed: int = 0) -> torch.nn.Module:
    """An untrained network of a few hundred weights that any input size goes through."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, kernel_size=7, stride=8),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, num_classes),
    )


def write_placeholder(out: Path, image_size: int = 224) -> dict:
    """The app's bundle on a tiny untrained network with the real labels and input contract, so the app
    builds and runs before any training. Its card says placeholder: true and the app shows that."""
    network = tiny_network(len(PADDY_LABELS))
    model = ModelSpec("placeholder-untrained", list(PADDY_LABELS), image_size, IMAGENET_MEAN, IMAGENET_STD)
    metadata = {**model_metadata(model, "nearest", None), "placeholder": True}
    spec = formats.ExportSpec(model, metadata, PLACEHOLDER_ONNX_OPSET)
    return write_bundle(network, spec, out, name="paddy-edge-placeholder", names=(formats.PHONE_FORMAT,))


def calibration_photos(manifest: Path, raw: Path, model_input: dict, count: int, seed: int = 0) -> np.ndarray:
    """`count` training photos (or all there are), preprocessed as the app does from the original files:
    what the int8 formats see while their activation ranges are measured."""
    frame = pd.read_csv(manifest)
    train = frame[frame["split"] == "train"]
    chosen = train.sample(min(count, len(train)), random_state=seed)
    photos = []
    for source in chosen["source"]:
        try:
            photos.append(load_app_input(raw / source, model_input))
        except UnreadableImage as exc:
            print(f"Calibration skips {raw / source}: {exc}")
    if not photos:
        raise UserError(f"none of the training photos under {raw} can be read for calibration: run dvc repro")
    return np.stack(photos)


def training_batches(
    manifest: Path, raw: Path, model_input: dict, labels: list[str], batch_size: int, seed: int = 0
) -> LabelledBatches:
    """Each epoch's training photos in a new order, preprocessed as the app does from the original
    files, in batches with their label indices: what quantization-aware training learns from."""
    frame = pd.read_csv(manifest)
    train = frame[frame["split"] == "train"]
    unknown = sorted(set(train["label"]) - set(labels))
    if unknown:
        raise UserError(f"{manifest} has labels the model does not know ({unknown[:3]}): run dvc repro")
    targets = {label: index for index, label in enumerate(labels)}

    def epoch(number: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rows = train.sample(frac=1.0, random_state=seed + number)
        for start in range(0, len(rows), batch_size):
            chunk = rows.iloc[start : start + batch_size]
            photos, classes = [], []
            for source, label in zip(chunk["source"], chunk["label"], strict=True):
                try:
                    photos.append(load_app_input(raw / source, model_input))
                except UnreadableImage as exc:
                    print(f"Quantization-aware training skips {raw / source}: {exc}")
                    continue
                classes.append(targets[label])
            if photos:
                yield np.stack(photos), np.asarray(classes, np.int64)

    return epoch


def check_installed(names: list[str]) -> None:
    for fmt in names:
        problem = formats.REGISTRY[fmt].writer_problem()
        if problem:
            raise UserError(
                f"export.formats lists {fmt}, which {problem}; or drop {fmt} from export.formats in "
                "params.yaml"
            )


def export(params: Params, out: Path, run_id: str | None, seconds: dict[str, float] | None = None) -> dict:
    network, model = load_trained()
    train_run = mlflow_runs.run_id_from_train()
    metadata = {**model_metadata(model, params.evaluate.resample, run_id, train_run), "placeholder": False}
    calibration = None
    if any(formats.REGISTRY[fmt].twin for fmt in params.export.formats):
        calibration = calibration_photos(
            paths.MANIFEST, paths.RAW, metadata["input"], params.export.calibration_images
        )
    qat = None
    if params.export.qat_epochs:  # config holds it to a run that builds executorch_int8
        batches = training_batches(
            paths.MANIFEST, paths.RAW, metadata["input"], model.labels, params.train.batch_size
        )
        qat = QatSpec(params.export.qat_epochs, params.export.qat_lr, batches)
    spec = formats.ExportSpec(
        model, metadata, params.export.onnx_opset, calibration, qat, params.export.phone_int8
    )
    names = tuple(params.export.formats)
    return write_bundle(network, spec, out, name=params.mlflow.registered_model, names=names, seconds=seconds)


def check_free_space(weights: Path, out: Path, count: int) -> None:
    """Each format is at most about the size of the weights, written once here and once more into a
    local MLflow artifact store: refuse up front rather than fill the disk halfway through."""
    needed = 2 * count * weights.stat().st_size + 16 * 2**20
    out.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out.parent).free
    if free < needed:
        raise UserError(
            f"{free / 2**20:.0f} MB free on the disk of {out.parent}/, and export needs about "
            f"{needed / 2**20:.0f} MB (each format, and its copy in the MLflow store): free some space, "
            "then rerun `dvc repro export`"
        )


def run(params: Params) -> None:
    import mlflow

    outputs.raise_missing(paths.WEIGHTS, "train")
    check_installed(params.export.formats)
    check_free_space(paths.WEIGHTS, paths.EXPORTED, len(params.export.formats))
    with mlflow_runs.resume_run(params.mlflow.experiment, "export") as run:
        seconds: dict[str, float] = {}
        with outputs.atomic_dir(paths.EXPORTED) as staging:
            card = export(params, staging, run.info.run_id, seconds)
        mlflow.log_metrics({f"export_seconds.{fmt}": value for fmt, value in seconds.items()})
        mlflow_runs.log_settings(params, "export", "evaluate.resample", "mlflow.registered_model")
        mlflow.log_artifacts(str(paths.EXPORTED), "model")
        if "mobile_optimized" in card:  # the lite model's fact: only where lite is built
            mlflow.set_tag("export.mobile_optimized", str(card["mobile_optimized"]).lower())
        mlflow.log_metrics({f"size_mb.{fmt}": built["bytes"] / 1e6 for fmt, built in card["formats"].items()})
    built = ", ".join(
        f"{fmt} {info['bytes'] / 1e6:.2f} MB in {seconds[fmt]:.1f} s" for fmt, info in card["formats"].items()
    )
    lite = f"; mobile_optimized={card['mobile_optimized']}" if "mobile_optimized" in card else ""
    print(f"Exported to {paths.EXPORTED}: {built}{lite}")
