"""tflite: the network as a LiteRT (TensorFlow Lite) flatbuffer, the runtime of tflite_flutter and of
Android's own ML stack; tflite_int8: that file with int8 weights (ai-edge-quantizer's dynamic int8, no
calibration photos). Both opt-in: list them in export.formats after `make tflite-setup`.

The converter, litert-torch, needs torch < 2.15, so it runs in a venv of its own (.venv-tflite): export
saves the program here with torch.export (formats.exportable, the copy the ExecuTorch formats lower,
weights inside) and that venv's python converts it (formats/tflite_convert.py), offline. The files run
here in ai-edge-litert 1.4.0, the LiteRT that tflite_flutter 0.12.1 bundles, one photo at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paddy_edge import paths, tflite_file
from paddy_edge.errors import UserError
from paddy_edge.formats.exportable import exportable
from paddy_edge.formats.registry import ExportSpec, Format, Runner, example_input

if TYPE_CHECKING:
    import torch

VENV_VARIABLE = "PADDY_EDGE_TFLITE_VENV"  # where .venv-tflite is, if not in the checkout
VENV_NAME = ".venv-tflite"
CONVERTER = Path(__file__).with_name("tflite_convert.py")
CHECKOUT = Path(__file__).resolve().parents[3]  # src/paddy_edge/formats/ -> the repository


def converter_venv() -> Path | None:
    """The converter's venv: $PADDY_EDGE_TFLITE_VENV, else .venv-tflite here, beside the venv this runs
    in (make's .venv: a smoke workspace or a test's copy of the repo has none of its own), or in the
    checkout of this package's src/. Only a venv that `make tflite-setup` finished counts."""
    named = os.environ.get(VENV_VARIABLE)
    places = (Path.cwd(), Path(sys.prefix).parent, CHECKOUT)
    candidates = [Path(named)] if named else [place / VENV_NAME for place in places]
    return next((venv for venv in candidates if (venv / ".installed").is_file()), None)


def converter_problem() -> str | None:
    if converter_venv() is not None:
        return None
    where = os.environ.get(VENV_VARIABLE) or VENV_NAME
    return (
        f"is converted by litert-torch in a venv of its own ({where}), which is not built: run "
        "`make tflite-setup` (about 2.2 GB with CPU torch wheels)"
    )


def _convert(action: str, source: Path, target: Path) -> dict[str, Any]:
    venv = converter_venv()
    if venv is None:
        raise UserError(f"{target.name} {converter_problem()}")
    result = subprocess.run(
        [str(venv / "bin" / "python"), str(CONVERTER), action, str(source), str(target)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONNOUSERSITE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1][:300] if lines else f"exit status {result.returncode}"
        raise UserError(
            f"litert-torch in {venv} could not {action} {source.name} into {target.name}: {reason}. "
            f"Run `make tflite-setup` again, or drop {target.name}'s format from export.formats"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _write_tflite(network: torch.nn.Module, spec: ExportSpec, target: Path) -> dict[str, Any]:
    import torch

    with tempfile.TemporaryDirectory(prefix="paddy-edge-tflite-") as scratch:
        program = Path(scratch) / "model.pt2"
        with torch.no_grad():
            torch.export.save(torch.export.export(exportable(network), (example_input(spec),)), program)
        return _convert("convert", program, target)


def _write_tflite_int8(network: torch.nn.Module, spec: ExportSpec, target: Path) -> dict[str, Any]:
    return _convert("quantize", target.with_name(TFLITE.name), target)


def _load_tflite(file: Path, threads: int) -> Runner:
    damage = tflite_file.problem(file)
    if damage:  # before the interpreter: it maps the file unverified and crashes on a truncated one
        raise UserError(f"{file} is {damage}. Run dvc repro export --force (or copy the whole folder again)")
    run_photo = tflite_file.photo_runner(file, threads or None)
    return lambda batch: np.concatenate([run_photo(photo[None]) for photo in batch])


TFLITE = paths.EXPORTED / "model.tflite"
FORMATS = (
    Format(
        "tflite",
        TFLITE,
        _load_tflite,
        _write_tflite,
        requires=("ai_edge_litert",),
        setup_problem=converter_problem,
    ),
    Format(
        "tflite_int8",
        paths.EXPORTED / "model.int8.tflite",
        _load_tflite,
        _write_tflite_int8,
        source="tflite",
        twin="tflite",
        requires=("ai_edge_litert",),
        setup_problem=converter_problem,
    ),
)
