"""`make device-check`: the exported model in the runtime the app ships, before any APK is built.

With --executorch (the pipeline's venv, which has the `executorch` package): the app's program, the
card's `phone.file` (model.pte; model.int8.pte with export.phone_int8), loads in `executorch.runtime`,
is fed the validation photos preprocessed exactly as the app does (paddy_edge.phone.preprocess), and
must agree top-1 with the pipeline's own evaluation (reports/predictions.csv); the other .pte is
reported. The runtime here is the exporter's (executorch 1.5.1, the newest on PyPI); the app's plugin
bundles its own (docs/app.md names the gap).

Without it: the lite model (model.ptl, for the pytorch_lite app of earlier releases) under torch 2.1.0,
the runtime PyTorch Android 2.1.0 bundles (its own venv, `make device-setup`), with both torch.jit.load
and the lite interpreter; --optimized also runs optimize_for_mobile (XNNPACK) on it. It imports only
torch, numpy, Pillow and paddy_edge.phone.preprocess, so it runs without the pipeline's dependencies."""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.jit.mobile import _load_for_lite_interpreter

from paddy_edge import paths, pte
from paddy_edge.phone.preprocess import load_app_input, softmax


class DamagedModel(Exception):
    """A model file the runtime cannot load: one message, not the runtime's traceback."""


def _load(path: Path, runtime: str, load):
    """`load()`, or DamagedModel naming `path`, what the runtime said, and what to do."""
    try:
        return load()
    except Exception as exc:  # torch: "PytorchStreamReader failed ..."; executorch: "Failed to load program"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DamagedModel(
            f"{path} cannot be loaded by {runtime} ({reason}): it is damaged or not this pipeline's. "
            "Run dvc repro export --force (make smoke for the smoke workspace), then make device-check again"
        ) from None


def _latency_ms(run, example: torch.Tensor, rounds: int = 20) -> float:
    for _ in range(3):
        run(example)
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        run(example)
        timings.append(time.perf_counter() - start)
    return float(np.median(timings) * 1000)


def _probabilities(module, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        logits = [module(torch.from_numpy(x[None])).numpy() for x in inputs]
    return softmax(np.concatenate(logits))


def check(root: Path, optimized: bool) -> dict:
    model_path = root / paths.LITE_MODEL
    inputs, pipeline_top1, truth = _validation(root)

    runtime = f"torch {torch.__version__}"
    loaders = {
        "lite_interpreter": _load(model_path, runtime, lambda: _load_for_lite_interpreter(str(model_path))),
        "jit_load": _load(model_path, runtime, lambda: torch.jit.load(str(model_path))),
    }
    if optimized:
        from torch.utils.mobile_optimizer import optimize_for_mobile

        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "model.xnnpack.ptl"
            optimize_for_mobile(loaders["jit_load"])._save_for_lite_interpreter(str(target))
            loaders["xnnpack_optimized"] = _load_for_lite_interpreter(str(target))
    probs = {name: _probabilities(module, inputs) for name, module in loaders.items()}
    example = torch.from_numpy(inputs[:1])
    report: dict = {"torch_version": torch.__version__, "images": len(truth), "model": str(model_path)}
    for name, p in probs.items():
        top1 = p.argmax(axis=1)
        report[name] = {
            "agreement_with_pipeline": float((top1 == pipeline_top1).mean()),
            "accuracy": float((top1 == truth).mean()),
            "max_abs_prob_diff_vs_lite": float(np.abs(p - probs["lite_interpreter"]).max()),
            "median_ms_here": round(_latency_ms(loaders[name], example), 3),
        }
    return report


def _validation(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The validation photos as the app feeds them, the pipeline's top-1 for each, and the truth."""
    card = json.loads((root / paths.MODEL_CARD).read_text())
    with (root / paths.PREDICTIONS).open() as handle:
        expected = list(csv.DictReader(handle))
    labels = card["labels"]
    inputs = np.stack([load_app_input(root / paths.RAW / row["image"], card["input"]) for row in expected])
    pipeline_top1 = np.array([labels.index(row["predicted"]) for row in expected])
    truth = np.array([labels.index(row["actual"]) for row in expected])
    return inputs, pipeline_top1, truth


def check_executorch(root: Path) -> dict:
    # executorch.runtime directly, not paddy_edge.formats: the ci modules import only the standard
    # library and each other (tests/package/test_import_isolation.py)
    from executorch.runtime import Runtime

    inputs, pipeline_top1, truth = _validation(root)
    report: dict = {"executorch_version": importlib.metadata.version("executorch"), "images": len(truth)}
    for name, program in (
        ("executorch", paths.EXECUTORCH_MODEL),
        ("executorch_int8", paths.EXECUTORCH_INT8_MODEL),
    ):
        file = root / program
        if not file.is_file():
            continue
        damage = pte.problem(file)  # before the runtime, which aborts the process on some bytes
        if damage:
            raise DamagedModel(
                f"{file} is {damage}. Run dvc repro export --force, then make device-check again"
            )
        method = _load(
            file, "executorch.runtime", lambda f=file: Runtime.get().load_program(f).load_method("forward")
        )

        def run(x: torch.Tensor, method=method) -> torch.Tensor:
            return method.execute([x])[0]

        probs = _probabilities(run, inputs)
        top1 = probs.argmax(axis=1)
        report[name] = {
            "agreement_with_pipeline": float((top1 == pipeline_top1).mean()),
            "accuracy": float((top1 == truth).mean()),
            "median_ms_here": round(_latency_ms(run, torch.from_numpy(inputs[:1])), 3),
        }
    return report


def main_executorch(root: Path, min_agreement: float) -> int:
    card = json.loads((root / paths.MODEL_CARD).read_text())
    phone = card.get("phone") if isinstance(card.get("phone"), dict) else {}
    name = phone.get("format", "executorch")
    if not (root / paths.EXPORTED / phone.get("file", paths.PHONE_MODEL.name)).is_file():
        print(f"error: {root / paths.MODEL_CARD} names no phone program that exists: run dvc repro export")
        return 2
    report = check_executorch(root)
    report["phone"] = name
    (root / paths.DEVICE_EXECUTORCH_REPORT).write_text(json.dumps(report, indent=2))
    print(f"executorch {report['executorch_version']} runtime, {report['images']} validation photos")
    for program in ("executorch", "executorch_int8"):
        if program in report:
            row = report[program]
            print(
                f"{program:<20}agree w/ pipeline {row['agreement_with_pipeline']:.4f}  "
                f"accuracy {row['accuracy']:.4f}  {row['median_ms_here']:.2f} ms here"
            )
    if report[name]["agreement_with_pipeline"] < min_agreement:
        print(f"FAIL: the app's program ({name}) agrees with the pipeline on < {min_agreement:.0%} of photos")
        return 1
    print(f"PASS: the app's ExecuTorch program ({name}) gives the pipeline's answers")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, default=Path("."), help=f"a pipeline workspace (. or {paths.SMOKE_WORKSPACE})"
    )
    parser.add_argument("--min-agreement", type=float, default=1.0)
    parser.add_argument("--optimized", action="store_true", help="also try optimize_for_mobile here")
    parser.add_argument("--executorch", action="store_true", help="check the .pte programs instead")
    args = parser.parse_args(argv)
    model = () if args.executorch else (paths.LITE_MODEL,)  # main_executorch names model.pte's own fix
    for needed in (*model, paths.MODEL_CARD, paths.PREDICTIONS):
        if not (args.root / needed).is_file():
            print(
                f"error: {args.root / needed} is missing: run the pipeline first (make smoke or make repro)"
            )
            return 2
    try:
        if args.executorch:
            return main_executorch(args.root, args.min_agreement)
        report = check(args.root, args.optimized)
    except DamagedModel as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    target = args.root / paths.DEVICE_REPORT
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"torch {report['torch_version']} (as in PyTorch Android 2.1.0), {report['images']} validation photos"
    )
    print(f"{'loader':<20}{'agree w/ pipeline':>18}{'accuracy':>10}{'max |dp| vs lite':>18}{'ms here':>9}")
    failed = []
    for name in ("lite_interpreter", "jit_load", "xnnpack_optimized"):
        if name not in report:
            continue
        row = report[name]
        print(
            f"{name:<20}{row['agreement_with_pipeline']:>18.4f}{row['accuracy']:>10.4f}"
            f"{row['max_abs_prob_diff_vs_lite']:>18.2e}{row['median_ms_here']:>9.2f}"
        )
        if row["agreement_with_pipeline"] < args.min_agreement:
            failed.append(name)
    if failed:
        print(f"FAIL: {', '.join(failed)} agree with the pipeline on < {args.min_agreement:.0%} of photos")
        return 1
    print(f"PASS: the app's runtime gives the pipeline's answers (report: {target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
