"""onnx (the exporter's graph, simplified by onnxslim) and onnx_int8 (ONNX Runtime's static QDQ
quantization, per channel, calibrated on training photos preprocessed as the app does). Both run in
ONNX Runtime."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paddy_edge import paths
from paddy_edge.formats.registry import ExportSpec, Format, Runner, example_input

if TYPE_CHECKING:
    import torch

INPUT, OUTPUT = "input", "logits"


def _write_onnx(network: torch.nn.Module, spec: ExportSpec, target: Path) -> dict[str, Any]:
    import onnx
    import onnxslim
    import torch

    torch.onnx.export(
        network,
        (example_input(spec),),
        str(target),
        input_names=[INPUT],
        output_names=[OUTPUT],
        dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
        opset_version=spec.onnx_opset,
        dynamo=False,  # the TorchScript exporter writes one self-contained file
    )
    exported = onnx.load(str(target))
    slimmed = onnxslim.slim(exported)  # constant folding, dead nodes, fusing: the same maths in fewer nodes
    onnx.save(slimmed, str(target))
    onnx.checker.check_model(str(target), full_check=True)
    return {"onnx_nodes": {"exported": len(exported.graph.node), "slimmed": len(slimmed.graph.node)}}


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """ORT's quantizer logs a warning per 1-D weight it cannot quantize per channel (LayerNorm's): noise."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _write_onnx_int8(network: torch.nn.Module, spec: ExportSpec, target: Path) -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    assert spec.calibration is not None, "export passes calibration photos to the int8 formats"
    photos = spec.calibration

    class Photos(CalibrationDataReader):
        def __init__(self) -> None:
            self.remaining = iter(photos)

        def get_next(self) -> dict[str, np.ndarray] | None:
            photo = next(self.remaining, None)
            return None if photo is None else {INPUT: photo[None]}

    prepared = target.with_name(f".{target.name}.prepared.onnx")
    try:
        with _quiet_root_logger():
            quant_pre_process(str(target.with_name(paths.ONNX_MODEL.name)), str(prepared))
            quantize_static(
                str(prepared),
                str(target),
                Photos(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
    finally:
        prepared.unlink(missing_ok=True)
    return {"calibration_photos": len(photos)}


def _load_onnx(file: Path, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {name: batch})[0]

    return run


FORMATS = (
    Format("onnx", paths.ONNX_MODEL, _load_onnx, _write_onnx),
    Format(
        "onnx_int8",
        paths.EXPORTED / "model.int8.onnx",
        _load_onnx,
        _write_onnx_int8,
        source="onnx",
        twin="onnx",
    ),
)
