"""Stage export: the trained network, in eval mode on the CPU, as
- model.ptl: lite TorchScript for PyTorch Android (pytorch_lite), metadata inside the file;
- model.onnx: one self-contained file with a dynamic batch axis, checked with onnx.checker;
- labels.txt: one label per line and no trailing newline (the app splits on "\\n");
- model_card.json: everything the app needs to feed the model, with sizes and sha256 of each file."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from paddy_edge import paths, tracking
from paddy_edge.app_assets import sha256
from paddy_edge.config import Params
from paddy_edge.model import ModelSpec, load_trained

METADATA_NAME = "metadata.json"  # inside model.ptl, readable with torch.jit.load(_extra_files=...)


def model_metadata(spec: ModelSpec, resample: str, run_id: str | None) -> dict:
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
        "mlflow_run_id": run_id,
    }


def trace(network: torch.nn.Module, example: torch.Tensor) -> tuple[torch.jit.ScriptModule, bool]:
    """Trace, then optimize for mobile where this torch build has XNNPACK; otherwise freeze only."""
    from torch.utils.mobile_optimizer import optimize_for_mobile

    with torch.no_grad():
        traced = torch.jit.trace(network, example)
    try:
        return optimize_for_mobile(traced), True
    except RuntimeError as exc:
        if "XNNPACK" not in str(exc):
            raise
        print("optimize_for_mobile is unavailable (this torch build has no XNNPACK): exporting unoptimized")
        return torch.jit.freeze(traced.eval()), False


def export_lite(network: torch.nn.Module, example: torch.Tensor, metadata: dict, target: Path) -> bool:
    scripted, optimized = trace(network, example)
    metadata = {**metadata, "mobile_optimized": optimized, "torch_version": torch.__version__}
    scripted._save_for_lite_interpreter(str(target), _extra_files={METADATA_NAME: json.dumps(metadata)})
    return optimized


def export_onnx(network: torch.nn.Module, example: torch.Tensor, target: Path, opset: int) -> None:
    import onnx

    torch.onnx.export(
        network,
        (example,),
        str(target),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=opset,
        dynamo=False,  # the TorchScript exporter writes one self-contained file
    )
    onnx.checker.check_model(str(target), full_check=True)


def read_lite_metadata(path: Path) -> dict:
    extra = {METADATA_NAME: ""}
    torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[METADATA_NAME])


def write_bundle(
    network: torch.nn.Module,
    spec: ModelSpec,
    out: Path,
    *,
    name: str,
    resample: str,
    run_id: str | None,
    onnx_opset: int | None,
    placeholder: bool = False,
) -> dict:
    """Write model.ptl (+ model.onnx when an opset is given), labels.txt and model_card.json into out."""
    from torch.jit.mobile import _get_model_bytecode_version

    network = network.eval()
    example = torch.rand(1, 3, spec.image_size, spec.image_size)
    metadata = {**model_metadata(spec, resample, run_id), "placeholder": placeholder}
    optimized = export_lite(network, example, metadata, out / paths.LITE_MODEL.name)
    if onnx_opset is not None:
        export_onnx(network, example, out / paths.ONNX_MODEL.name, onnx_opset)
    (out / paths.EXPORT_LABELS.name).write_text("\n".join(spec.labels))
    files = {
        file.name: {"bytes": file.stat().st_size, "sha256": sha256(file)}
        for file in sorted(out.iterdir())
        if file.name != paths.MODEL_CARD.name
    }
    card = {
        "name": name,
        **metadata,
        "mobile_optimized": optimized,
        "lite_bytecode_version": _get_model_bytecode_version(str(out / paths.LITE_MODEL.name)),
        "torch_version": torch.__version__,
        "files": files,
    }
    (out / paths.MODEL_CARD.name).write_text(json.dumps(card, indent=2) + "\n")
    return card


def export(params: Params, out: Path, run_id: str | None) -> dict:
    network, spec = load_trained()
    return write_bundle(
        network,
        spec,
        out,
        name=params.mlflow.registered_model,
        resample=params.evaluate.resample,
        run_id=run_id,
        onnx_opset=params.export.onnx_opset,
    )


def main(params: Params) -> None:
    import mlflow

    with tracking.resume_run(params.mlflow.experiment) as run:
        with paths.atomic_dir(paths.EXPORTED) as staging:
            card = export(params, staging, run.info.run_id)
        mlflow.log_artifacts(str(paths.EXPORTED), "model")
        mlflow.log_params({"export.mobile_optimized": card["mobile_optimized"]})
        mlflow.log_metrics(
            {
                "size_mb.lite": card["files"]["model.ptl"]["bytes"] / 1e6,
                "size_mb.onnx": card["files"]["model.onnx"]["bytes"] / 1e6,
            }
        )
    sizes = ", ".join(f"{name} {info['bytes'] / 1e6:.2f} MB" for name, info in card["files"].items())
    print(f"Exported to {paths.EXPORTED}: {sizes}; mobile_optimized={card['mobile_optimized']}")
