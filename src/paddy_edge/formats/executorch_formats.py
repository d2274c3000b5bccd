"""executorch (`torch.export` -> XNNPACK partitioner -> `.pte`) and executorch_int8 (PT2E post-training
quantization with the XNNPACK quantizer, calibrated on training photos preprocessed as the app does, or
fine-tuned on them first by quantization-aware training when params `export.qat_epochs` > 0).
ExecuTorch is where PyTorch sends mobile users after the lite interpreter; both run here in
`executorch.runtime`. The programs take one photo (batch 1), as the phone feeds them."""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paddy_edge import paths, pte
from paddy_edge.errors import UserError
from paddy_edge.formats.exportable import exportable
from paddy_edge.formats.qat import fine_tune
from paddy_edge.formats.registry import ExportSpec, Format, Runner, example_input

if TYPE_CHECKING:
    import torch

# torchao 0.18 registers an Enum with torch's pytree, and torch 2.15 warns about it on every import of
# ExecuTorch's quantizer and runtime: one line of noise in export, evaluate, bench and device-check.
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)


def _lower(program: Any, target: Path) -> dict[str, Any]:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
    target.write_bytes(lowered.buffer)
    return {"executorch_version": importlib.metadata.version("executorch")}


def _write_executorch(network: torch.nn.Module, spec: ExportSpec, target: Path) -> dict[str, Any]:
    import torch

    with torch.no_grad():
        program = torch.export.export(exportable(network), (example_input(spec),))
    return _lower(program, target)


def _write_executorch_int8(network: torch.nn.Module, spec: ExportSpec, target: Path) -> dict[str, Any]:
    """PT2E with the XNNPACK quantizer: post-training calibration on spec.calibration, or, when
    spec.qat asks for epochs, quantization-aware fine-tuning on the training photos (formats.qat)."""
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    assert spec.calibration is not None, "export passes calibration photos to the int8 formats"
    example = (example_input(spec),)
    qat = spec.qat is not None and spec.qat.epochs > 0
    config = get_symmetric_quantization_config(is_per_channel=True, is_qat=qat)
    quantizer = XNNPACKQuantizer().set_global(config)
    facts: dict[str, Any] = {}
    if qat:
        unfolded = exportable(network, fold_batchnorms=False)
        observed, facts = fine_tune(unfolded, quantizer, spec.qat, spec.model.image_size)
    else:
        with torch.no_grad():
            graph = torch.export.export(exportable(network), example).module()
            observed = prepare_pt2e(graph, quantizer)
            for photo in spec.calibration:
                observed(torch.from_numpy(photo[None]))
    with torch.no_grad():
        quantized = convert_pt2e(observed)
        program = torch.export.export(quantized, example)
    return _lower(program, target) | facts


def _load_executorch(file: Path, threads: int) -> Runner:
    import torch
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    from executorch.runtime import Runtime

    damage = pte.problem(file)
    if damage:  # before the runtime: it aborts the process on some bytes instead of raising
        raise UserError(f"{file} is {damage}. Run dvc repro export --force (or copy the whole folder again)")
    if threads:
        _unsafe_reset_threadpool(threads)
    method = Runtime.get().load_program(file).load_method("forward")
    if method is None:
        raise RuntimeError(f"{file} has no forward method")

    def run(batch: np.ndarray) -> np.ndarray:
        return np.concatenate([method.execute([torch.from_numpy(photo[None])])[0].numpy() for photo in batch])

    return run


FORMATS = (
    Format(
        "executorch",
        paths.EXECUTORCH_MODEL,
        _load_executorch,
        _write_executorch,
        phone=True,  # the app runs it (executorch_flutter)
        requires=("executorch",),
    ),
    Format(
        "executorch_int8",
        paths.EXECUTORCH_INT8_MODEL,
        _load_executorch,
        _write_executorch_int8,
        twin="executorch",
        requires=("executorch",),
    ),
)
