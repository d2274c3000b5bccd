"""What a TFLite (LiteRT) model file must look like before the interpreter opens it.

The interpreter does not verify the flatbuffer it maps: a truncated file ends the whole process with
SIGSEGV instead of raising, so a damaged file is refused here first. A .tflite is a flatbuffer whose
file identifier (bytes 4 to 8) is "TFL3"; every table and vector the interpreter reads (each subgraph's
tensors, inputs, outputs and operators, and each weight buffer, inside the file or after it by offset
and size) must lie within the file. The schema is LiteRT's own (ai_edge_litert.schema_py_generated).

`photo_runner` opens a verified file in LiteRT's interpreter, as evaluate, bench and device-check run it:
one photo at a time, as the app does. Standard library only at import: LiteRT and numpy load on use."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

IDENTIFIER = b"TFL3"


def problem(file: Path) -> str:
    """Why `file` is not a whole TFLite model ('' when every part of it lies within the file)."""
    from ai_edge_litert.schema_py_generated import Model

    data = file.read_bytes()
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        return "not a TFLite model: no TFL3 flatbuffer identifier at bytes 4-8"
    try:
        model = Model.GetRootAs(data, 0)
        for index in range(model.SubgraphsLength()):
            graph = model.Subgraphs(index)
            tensors = graph.TensorsLength()
            for position in range(tensors):
                graph.Tensors(position).ShapeAsNumpy()
            for used in (*graph.InputsAsNumpy(), *graph.OutputsAsNumpy()):
                if not 0 <= used < tensors:
                    return f"damaged: subgraph {index} names tensor {used} of {tensors}"
            for position in range(graph.OperatorsLength()):
                operator = graph.Operators(position)
                operator.InputsAsNumpy(), operator.OutputsAsNumpy()
        for index in range(model.BuffersLength()):
            buffer = model.Buffers(index)
            if buffer.DataLength():
                buffer.DataAsNumpy()[-1:]  # the vector's last byte: inside the file
            if buffer.Offset() > 1 and buffer.Offset() + buffer.Size() > len(data):
                return (
                    f"truncated: weight buffer {index} ends at byte {buffer.Offset() + buffer.Size()}, "
                    f"the file has {len(data)}"
                )
    except (struct.error, IndexError, ValueError, TypeError):
        return "truncated or damaged: its flatbuffer reads past the end of the file"
    return ""


def photo_runner(file: Path, threads: int | None = None) -> Callable[[Any], Any]:
    """A function from one (1, C, H, W) float32 photo to its logits, in LiteRT's interpreter on `file`,
    which `problem` must have passed (LiteRT maps the file unverified)."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(file), num_threads=threads)
    interpreter.allocate_tensors()
    (given,), (answer,) = interpreter.get_input_details(), interpreter.get_output_details()

    def run(photo: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(given["index"], np.ascontiguousarray(photo, np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(answer["index"]).copy()

    return run
