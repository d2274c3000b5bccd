"""Every model format the pipeline makes, in one registry (in the manner of timm's `register_model`):
the file it lives in, how export writes it, how evaluate and bench run it, and whether the phone runs
it. export, evaluate, bench and gate all read the registry: adding a format is one `register` call
(plus its test)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paddy_edge import paths
from paddy_edge.errors import UserError

if TYPE_CHECKING:
    import torch

    from paddy_edge.model import ModelSpec

Runner = Callable[[np.ndarray], np.ndarray]  # float32 NCHW batch in, logits out


@dataclass(frozen=True)
class ExportSpec:
    """What every writer gets besides the network: the model's spec, the metadata the app reads, and the
    settings of params `export:`."""

    model: ModelSpec
    metadata: dict[str, Any]
    onnx_opset: int


@dataclass(frozen=True)
class Format:
    name: str
    file: Path  # as dvc.yaml runs the stages, relative to the repository root
    load: Callable[[Path, int], Runner]  # (file, threads; 0 = the runtime's default) -> runner
    # (network, spec, target file) -> facts for the model card; None: train writes it, not export.
    write: Callable[[torch.nn.Module, ExportSpec, Path], dict[str, Any]] | None = None
    phone: bool = False  # the format the app ships


REGISTRY: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    if fmt.name in REGISTRY:
        raise ValueError(f"format {fmt.name!r} is registered twice")
    REGISTRY[fmt.name] = fmt
    return fmt


def runner(name: str, threads: int = 0, file: Path | None = None) -> Runner:
    if name not in REGISTRY:
        raise ValueError(f"unknown format {name!r}; expected one of {tuple(REGISTRY)}")
    fmt = REGISTRY[name]
    file = file or fmt.file
    made_by = "export" if fmt.write else "train"
    paths.raise_missing(file, made_by)
    try:
        return fmt.load(file, threads)
    except UserError:
        raise
    except Exception as exc:  # each runtime has its own: RuntimeError, InvalidProtobuf, SafetensorError
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UserError(
            f"{file} cannot be loaded as the {name} format ({reason}): it is damaged or not this "
            f"pipeline's. Run dvc repro {made_by} --force (or copy the whole folder again)"
        ) from None


# --- eager: the trained network itself (safetensors + model_spec.json, written by train) -------------


def _load_eager(file: Path, threads: int) -> Runner:
    import torch

    from paddy_edge.model import load_trained

    network, _ = load_trained(file, file.parent / paths.MODEL_SPEC.name)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(batch)).numpy()

    return run


# --- lite: TorchScript for the mobile interpreter, what PyTorch Android (pytorch_lite) runs -----------


def _trace(network: torch.nn.Module, example: torch.Tensor) -> tuple[torch.jit.ScriptModule, bool]:
    """Trace, then optimize for mobile where this torch build has XNNPACK; otherwise freeze only."""
    import torch
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


def _write_lite(network: torch.nn.Module, spec: ExportSpec, target: Path) -> dict[str, Any]:
    import torch
    from torch.jit.mobile import _get_model_bytecode_version

    scripted, optimized = _trace(network, _example(spec))
    metadata = {**spec.metadata, "mobile_optimized": optimized, "torch_version": torch.__version__}
    # Serialized in memory, then written by Python: torch's own file writer aborts the whole process
    # (std::terminate) when the disk fills, where a Python write raises OSError (ENOSPC).
    extra_files = {paths.LITE_METADATA: json.dumps(metadata)}
    target.write_bytes(scripted._save_to_buffer_for_lite_interpreter(_extra_files=extra_files))
    return {
        "mobile_optimized": optimized,
        "lite_bytecode_version": _get_model_bytecode_version(str(target)),
        "torch_version": torch.__version__,
    }


def _load_lite(file: Path, threads: int) -> Runner:
    import torch
    from torch.jit.mobile import _load_for_lite_interpreter

    module = _load_for_lite_interpreter(str(file))

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(batch)).numpy()

    return run


# --- onnx: one self-contained file for ONNX Runtime -----------------------------------------------------


def _write_onnx(network: torch.nn.Module, spec: ExportSpec, target: Path) -> dict[str, Any]:
    import onnx
    import torch

    torch.onnx.export(
        network,
        (_example(spec),),
        str(target),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=spec.onnx_opset,
        dynamo=False,  # the TorchScript exporter writes one self-contained file
    )
    onnx.checker.check_model(str(target), full_check=True)
    return {}


def _load_onnx(file: Path, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {name: batch})[0]

    return run


def _example(spec: ExportSpec) -> torch.Tensor:
    import torch

    return torch.rand(1, 3, spec.model.image_size, spec.model.image_size)


register(Format("eager", paths.WEIGHTS, _load_eager))
register(Format("lite", paths.LITE_MODEL, _load_lite, _write_lite, phone=True))
register(Format("onnx", paths.ONNX_MODEL, _load_onnx, _write_onnx))

PHONE_FORMAT = next(name for name, fmt in REGISTRY.items() if fmt.phone)
EXPORTED_FORMATS = tuple(name for name, fmt in REGISTRY.items() if fmt.write is not None)
