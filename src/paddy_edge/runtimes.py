"""The three formats the pipeline compares, behind one call: float32 NCHW batch in, logits out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from paddy_edge import paths

Runner = Callable[[np.ndarray], np.ndarray]
FORMATS = ("eager", "lite", "onnx")


def eager_runner() -> Runner:
    from paddy_edge.model import load_trained

    network, _ = load_trained()

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(batch)).numpy()

    return run


def lite_runner(path: Path = paths.LITE_MODEL) -> Runner:
    """The mobile (lite) interpreter, as PyTorch Android runs the .ptl."""
    from torch.jit.mobile import _load_for_lite_interpreter

    paths.raise_missing(path, "export")
    module = _load_for_lite_interpreter(str(path))

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(batch)).numpy()

    return run


def onnx_runner(path: Path = paths.ONNX_MODEL, threads: int = 0) -> Runner:
    import onnxruntime as ort

    paths.raise_missing(path, "export")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {name: batch})[0]

    return run


def runner(fmt: str, threads: int = 0) -> Runner:
    if fmt == "eager":
        return eager_runner()
    if fmt == "lite":
        return lite_runner()
    if fmt == "onnx":
        return onnx_runner(threads=threads)
    raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
