"""Stage export: the trained network, in eval mode on the CPU, as every format the registry writes
(paddy_edge.formats: model.ptl for the phone, model.onnx), plus
- labels.txt: one label per line and no trailing newline (the app splits on "\\n");
- model_card.json: everything the app needs to feed the model, with sizes and sha256 of each file.

The app's untrained placeholder is the same bundle on a tiny network (`write_placeholder`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from paddy_edge import formats, paths, tracking
from paddy_edge.config import Params
from paddy_edge.errors import UserError
from paddy_edge.model import IMAGENET_MEAN, IMAGENET_STD, ModelSpec, load_trained
from paddy_edge.sample import PADDY_LABELS

PLACEHOLDER_ONNX_OPSET = 17


def model_metadata(
    spec: ModelSpec, resample: str, run_id: str | None, train_run_id: str | None = None
) -> dict:
    return {
        "architecture": spec.arch,
        "labels": spec.labels,
        "num_classes": len(spec.labels),
        "input": {
            "height": spec.image_size,
            "width": spec.image_size,
            "channels": 3,
            "layout": "NCHW",
            "resize": "squish",
            "resample": resample,
            "scale": 1 / 255,
            "mean": list(spec.mean),
            "std": list(spec.std),
        },
        "output": "logits",
        "mlflow_run_id": run_id,  # the run export logged into (train's, or its stand-in in a new store)
        "train_run_id": train_run_id,  # the model's identity in any store: what app-assets matches
    }


def write_bundle(
    network: torch.nn.Module,
    spec: formats.ExportSpec,
    out: Path,
    *,
    name: str,
    names: tuple[str, ...] = formats.EXPORTED_FORMATS,
) -> dict:
    """Write each format in `names`, labels.txt and model_card.json into out; return the card."""
    network = network.eval()
    facts: dict = {}
    for fmt in names:
        entry = formats.REGISTRY[fmt]
        facts |= entry.write(network, spec, out / entry.file.name)
    (out / paths.EXPORT_LABELS.name).write_text("\n".join(spec.model.labels))
    files = {
        file.name: {"bytes": file.stat().st_size, "sha256": paths.sha256(file)}
        for file in sorted(out.iterdir())
        if file.name != paths.MODEL_CARD.name
    }
    card = {"name": name, **spec.metadata, **facts, "files": files}
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


def export(params: Params, out: Path, run_id: str | None) -> dict:
    network, model = load_trained()
    train_run = tracking.run_id_from_train()
    metadata = {**model_metadata(model, params.evaluate.resample, run_id, train_run), "placeholder": False}
    spec = formats.ExportSpec(model, metadata, params.export.onnx_opset)
    return write_bundle(network, spec, out, name=params.mlflow.registered_model)


def check_free_space(weights: Path, out: Path) -> None:
    """Each format is about the size of the weights, written once here and once more into a local MLflow
    artifact store: refuse up front rather than fill the disk halfway through."""
    needed = 2 * len(formats.EXPORTED_FORMATS) * weights.stat().st_size + 16 * 2**20
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

    paths.raise_missing(paths.WEIGHTS, "train")
    check_free_space(paths.WEIGHTS, paths.EXPORTED)
    with tracking.resume_run(params.mlflow.experiment, "export") as run:
        with paths.atomic_dir(paths.EXPORTED) as staging:
            card = export(params, staging, run.info.run_id)
        tracking.log_settings(params, "export", "evaluate.resample", "mlflow.registered_model")
        mlflow.log_artifacts(str(paths.EXPORTED), "model")
        mlflow.set_tag("export.mobile_optimized", str(card["mobile_optimized"]).lower())
        mlflow.log_metrics(
            {
                f"size_mb.{fmt}": card["files"][formats.REGISTRY[fmt].file.name]["bytes"] / 1e6
                for fmt in formats.EXPORTED_FORMATS
            }
        )
    sizes = ", ".join(f"{name} {info['bytes'] / 1e6:.2f} MB" for name, info in card["files"].items())
    print(f"Exported to {paths.EXPORTED}: {sizes}; mobile_optimized={card['mobile_optimized']}")
