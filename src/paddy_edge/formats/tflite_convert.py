"""The TFLite converter: run as a script by .venv-tflite's python (make tflite-setup), never imported by
the pipeline, which runs torch 2.15 while litert-torch 0.10 needs torch < 2.15.

    convert PROGRAM.pt2 OUT.tflite   the program export wrote with torch.export (weights inside), lowered
                                     by litert_torch.convert: NCHW float32 in, logits out, batch 1
    quantize IN.tflite OUT.tflite    ai-edge-quantizer's dynamic int8 (int8 weights per channel, float
                                     activations quantized on the fly): no calibration photos

It imports only the standard library, torch, litert_torch and ai_edge_quantizer, and reads nothing from
the network: converting needs no download. The last line it prints is a JSON object of the versions
that made the file (the model card's facts)."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
from pathlib import Path


def convert(program: Path, target: Path) -> dict[str, str]:
    import litert_torch
    import torch

    exported = torch.export.load(str(program))
    (example,) = (node.meta["val"] for node in exported.graph.nodes if node.name in _user_inputs(exported))
    edge = litert_torch.convert(exported.module(), (torch.zeros(example.shape, dtype=example.dtype),))
    edge.export(str(target))
    litert = importlib.metadata.version("litert-torch")
    return {"litert_torch_version": litert, "tflite_torch_version": torch.__version__}


def _user_inputs(exported) -> set[str]:
    return {spec.arg.name for spec in exported.graph_signature.input_specs if spec.kind.name == "USER_INPUT"}


def quantize(source: Path, target: Path) -> dict[str, str]:
    from ai_edge_quantizer import quantizer, recipe

    model = quantizer.Quantizer(str(source))
    model.load_quantization_recipe(recipe.dynamic_wi8_afp32())
    model.quantize().export_model(str(target), overwrite=True)
    return {"ai_edge_quantizer_version": importlib.metadata.version("ai-edge-quantizer")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("convert", "quantize"))
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    facts = (convert if args.action == "convert" else quantize)(args.source, args.target)
    os.chmod(args.target, 0o644)  # ai-edge-quantizer writes its file executable
    print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
