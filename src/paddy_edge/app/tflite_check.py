"""`make device-check`, for the opt-in TFLite formats: model.tflite in ai-edge-litert 1.4.0, the LiteRT that
tflite_flutter 0.12.1 bundles, fed the validation photos preprocessed exactly as the app does
(paddy_edge.phone.preprocess), must agree top-1 with the pipeline's own evaluation
(reports/predictions.csv); model.int8.tflite, where built, is reported beside it."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from pathlib import Path

import numpy as np

from paddy_edge import paths, tflite_file
from paddy_edge.app.device_check import DamagedModel, _latency_ms, _load, _validation
from paddy_edge.phone.preprocess import softmax

RUNTIME = "ai-edge-litert"
APP_RUNTIME = "1.4.0"  # tflite_flutter 0.12.1's LiteRT
MODELS = {"tflite": paths.EXPORTED / "model.tflite", "tflite_int8": paths.EXPORTED / "model.int8.tflite"}
REPORT = paths.REPORTS / "device_check_tflite.json"


def _interpreter(file: Path):
    damage = tflite_file.problem(file)  # before LiteRT, which maps the file unverified
    if damage:
        raise DamagedModel(f"{file} is {damage}. Run dvc repro export --force, then make device-check again")
    runtime = f"{RUNTIME} {importlib.metadata.version(RUNTIME)}"
    return _load(file, runtime, lambda: tflite_file.photo_runner(file))


def check(root: Path) -> dict:
    inputs, pipeline_top1, truth = _validation(root)
    report: dict = {"runtime": f"{RUNTIME} {importlib.metadata.version(RUNTIME)}", "images": len(truth)}
    for name, model in MODELS.items():
        if not (root / model).is_file():
            continue
        run = _interpreter(root / model)
        top1 = softmax(np.concatenate([run(photo[None]) for photo in inputs])).argmax(axis=1)
        report[name] = {
            "agreement_with_pipeline": float((top1 == pipeline_top1).mean()),
            "accuracy": float((top1 == truth).mean()),
            "median_ms_here": round(_latency_ms(run, inputs[:1]), 3),
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="a pipeline workspace (. or .smoke)")
    parser.add_argument("--min-agreement", type=float, default=1.0)
    args = parser.parse_args(argv)
    for needed in (MODELS["tflite"], paths.MODEL_CARD, paths.PREDICTIONS):
        if not (args.root / needed).is_file():
            print(
                f"error: {args.root / needed} is missing: list tflite in export.formats and run the pipeline"
            )
            return 2
    try:
        report = check(args.root)
    except DamagedModel as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    (args.root / REPORT).write_text(json.dumps(report, indent=2) + "\n")
    version = report["runtime"].split()[-1]
    note = "" if version == APP_RUNTIME else f" (tflite_flutter bundles {APP_RUNTIME})"
    print(f"{report['runtime']}{note}, {report['images']} validation photos")
    for name in MODELS:
        if name in report:
            row = report[name]
            print(
                f"{name:<20}agree w/ pipeline {row['agreement_with_pipeline']:.4f}  "
                f"accuracy {row['accuracy']:.4f}  {row['median_ms_here']:.2f} ms here"
            )
    if report["tflite"]["agreement_with_pipeline"] < args.min_agreement:
        print(f"FAIL: model.tflite agrees with the pipeline on < {args.min_agreement:.0%} of photos")
        return 1
    print("PASS: model.tflite gives the pipeline's answers in tflite_flutter's LiteRT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
