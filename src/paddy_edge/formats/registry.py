"""The format registry (in the manner of timm's `register_model`): one `Format` per way of shipping the
network, with the file it lives in, how export writes it, how evaluate and bench run it, and whether
the phone runs it. The families register themselves on import (paddy_edge.formats)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paddy_edge.errors import UserError
from paddy_edge.runtime import outputs

if TYPE_CHECKING:
    import torch

    from paddy_edge.formats.qat import QatSpec
    from paddy_edge.model import ModelSpec

Runner = Callable[[np.ndarray], np.ndarray]  # float32 NCHW batch in, logits out


@dataclass(frozen=True)
class ExportSpec:
    """What every writer gets besides the network: the model's spec, the metadata the app reads, the
    settings of params `export:`, the calibration photos of the int8 formats (training photos,
    preprocessed as the app does; None where no int8 format is built), and executorch_int8's
    quantization-aware training (None: post-training quantization only)."""

    model: ModelSpec
    metadata: dict[str, Any]
    onnx_opset: int
    calibration: np.ndarray | None = None
    qat: QatSpec | None = None
    phone_int8: bool = False  # params export.phone_int8: the app runs the int8 program


@dataclass(frozen=True)
class Format:
    name: str
    file: Path  # as dvc.yaml runs the stages, relative to the repository root
    load: Callable[[Path, int], Runner]  # (file, threads; 0 = the runtime's default) -> runner
    # (network, spec, target file) -> facts for the model card; None: train writes it, not export.
    write: Callable[[torch.nn.Module, ExportSpec, Path], dict[str, Any]] | None = None
    phone: bool = False  # the format the app ships
    source: str | None = None  # the format it is converted from (its writer reads that file)
    twin: str | None = None  # an int8 format's fp32 counterpart, for "x smaller" and "x faster"
    requires: tuple[str, ...] = ()  # importable modules it needs beyond the default install
    companions: tuple[str, ...] = field(default=())  # other files of the format (OpenVINO's .bin)
    # what else writing it takes beyond the modules, as a problem to show (None: all there)
    setup_problem: Callable[[], str | None] | None = None

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.file, *(self.file.with_name(name) for name in self.companions))

    def missing_modules(self) -> list[str]:
        return [module for module in self.requires if importlib.util.find_spec(module) is None]

    def writer_problem(self) -> str | None:
        """Why export cannot write it here (a module, or its converter's environment), or None."""
        missing = self.missing_modules()
        if missing:
            return f"needs {', '.join(missing)}: run `make setup`"
        return self.setup_problem() if self.setup_problem else None


REGISTRY: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    if fmt.name in REGISTRY:
        raise ValueError(f"format {fmt.name!r} is registered twice")
    if fmt.source is not None and fmt.source not in REGISTRY:
        raise ValueError(
            f"format {fmt.name!r} is made from {fmt.source!r}, which is not registered before it"
        )
    REGISTRY[fmt.name] = fmt
    return fmt


def runner(name: str, threads: int = 0, file: Path | None = None) -> Runner:
    if name not in REGISTRY:
        raise ValueError(f"unknown format {name!r}; expected one of {tuple(REGISTRY)}")
    fmt = REGISTRY[name]
    file = file or fmt.file
    made_by = "export" if fmt.write else "train"
    outputs.raise_missing(file, made_by)
    missing = fmt.missing_modules()
    if missing:
        raise UserError(
            f"{file} is the {name} format, and running it needs {', '.join(missing)}, which is not installed "
            "here: run `make setup`"
        )
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


def example_input(spec: ExportSpec) -> torch.Tensor:
    import torch

    return torch.rand(1, 3, spec.model.image_size, spec.model.image_size)
