"""openvino: the ONNX model converted by `openvino.convert_model` to OpenVINO's IR (model.xml + model.bin),
run by the OpenVINO CPU plugin with the latency hint: the runtime of Intel edge boxes. openvino_int8: that
IR quantized by NNCF's post-training quantization, calibrated on training photos preprocessed as the app
does."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paddy_edge import paths
from paddy_edge.formats.registry import ExportSpec, Format, Runner

if TYPE_CHECKING:
    import torch


def _write_openvino(network: torch.nn.Module, spec: ExportSpec, target: Path) -> dict[str, Any]:
    import openvino as ov

    model = ov.convert_model(str(target.with_name(paths.ONNX_MODEL.name)))
    ov.save_model(model, str(target), compress_to_fp16=False)  # fp32, as the other formats
    return {"openvino_version": ov.get_version()}


def _write_openvino_int8(network: torch.nn.Module, spec: ExportSpec, target: Path) -> dict[str, Any]:
    import nncf
    import openvino as ov

    assert spec.calibration is not None, "export passes calibration photos to the int8 formats"
    nncf.set_log_level(logging.ERROR)  # its progress bars and INFO lines would bury export's own output
    model = ov.Core().read_model(str(target.with_name(IR.name)))
    photos = nncf.Dataset(list(spec.calibration), lambda photo: photo[None])
    quantized = nncf.quantize(model, photos, subset_size=len(spec.calibration))
    ov.save_model(quantized, str(target))
    return {"nncf_version": nncf.__version__}


def _load_openvino(file: Path, threads: int) -> Runner:
    import openvino as ov

    # f32: on CPUs with bf16 units (AMX, AVX512-BF16) the plugin would otherwise compute in bf16
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(str(file), "CPU", config)
    request = compiled.create_infer_request()

    def run(batch: np.ndarray) -> np.ndarray:
        return np.array(request.infer([batch])[compiled.output(0)])

    return run


IR = paths.EXPORTED / "model.xml"  # with model.bin beside it
INT8_IR = paths.EXPORTED / "model.int8.xml"  # with model.int8.bin
FORMATS = (
    Format(
        "openvino",
        IR,
        _load_openvino,
        _write_openvino,
        source="onnx",
        requires=("openvino",),
        companions=(IR.with_suffix(".bin").name,),
    ),
    Format(
        "openvino_int8",
        INT8_IR,
        _load_openvino,
        _write_openvino_int8,
        source="openvino",
        twin="openvino",
        requires=("openvino", "nncf"),
        companions=(INT8_IR.with_suffix(".bin").name,),
    ),
)
