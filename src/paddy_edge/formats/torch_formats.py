"""eager (the trained network itself, safetensors written by train) and lite (TorchScript for the
mobile interpreter: what PyTorch Android, through pytorch_lite, runs on the phone)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paddy_edge import paths
from paddy_edge.formats.registry import ExportSpec, Format, Runner, example_input

if TYPE_CHECKING:
    import torch


def _load_eager(file: Path, threads: int) -> Runner:
    import torch

    from paddy_edge.model import load_trained

    network, _ = load_trained(file, file.parent / paths.MODEL_SPEC.name)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(batch)).numpy()

    return run


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

    scripted, optimized = _trace(network, example_input(spec))
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


FORMATS = (
    Format("eager", paths.WEIGHTS, _load_eager),
    Format("lite", paths.LITE_MODEL, _load_lite, _write_lite),  # pytorch_lite's: the app's before ExecuTorch
)
