"""Stage bench: batch-1 latency per format with pytest-benchmark (benchmarks/test_latency.py), file sizes,
and a summary table (format, size MB, accuracy, median ms, FPS) as a DVC metric and in MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from paddy_edge import paths, tracking
from paddy_edge.config import BenchParams, Params
from paddy_edge.errors import UserError

BENCH_TESTS = Path("benchmarks/test_latency.py")
FILES = {"eager": paths.WEIGHTS, "lite": paths.LITE_MODEL, "onnx": paths.ONNX_MODEL}


def run_benchmarks(params: BenchParams, target: Path) -> dict:
    env = dict(os.environ)
    env.update(
        PADDY_EDGE_BENCH_ROUNDS=str(params.rounds),
        PADDY_EDGE_BENCH_WARMUP=str(params.warmup_rounds),
        PADDY_EDGE_BENCH_THREADS=str(params.threads),
    )
    with paths.atomic_file(target) as tmp:
        command = [
            sys.executable,
            "-m",
            "pytest",
            str(BENCH_TESTS),
            "-q",
            "-p",
            "no:cacheprovider",
            f"--benchmark-json={tmp}",
            "--benchmark-columns=min,median,max,stddev,ops,rounds",
        ]
        if subprocess.run(command, env=env).returncode != 0:
            raise UserError(f"the benchmarks in {BENCH_TESTS} failed (see above)")
    return paths.read_json(target, "bench")


def summarize(raw: dict, accuracy: dict[str, float]) -> dict:
    summary = {}
    for bench in raw["benchmarks"]:
        fmt = bench["extra_info"]["format"]
        median_s = bench["stats"]["median"]
        summary[fmt] = {
            "size_mb": round(FILES[fmt].stat().st_size / 1e6, 3),
            "accuracy": accuracy.get(fmt),
            "median_ms": round(median_s * 1000, 3),
            "fps": round(1 / median_s, 1),
        }
    return summary


def print_summary(summary: dict, threads: int) -> None:
    table = Table(title=f"Batch-1 latency on this CPU ({threads} thread(s))")
    for column in ("format", "size MB", "accuracy", "median ms", "FPS"):
        table.add_column(column, justify="left" if column == "format" else "right")
    for fmt, row in summary.items():
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        table.add_row(fmt, f"{row['size_mb']:.2f}", accuracy, f"{row['median_ms']:.2f}", f"{row['fps']:.1f}")
    Console().print(table)


def main(params: Params) -> None:
    import mlflow

    accuracy = paths.read_json(paths.EVAL_METRICS, "evaluate")["accuracy"]
    with tracking.resume_run(params.mlflow.experiment):
        raw = run_benchmarks(params.bench, paths.BENCH_RAW)
        summary = summarize(raw, accuracy)
        paths.write_json(paths.BENCH_SUMMARY, summary)
        mlflow.log_metrics({f"latency_ms.{fmt}": row["median_ms"] for fmt, row in summary.items()})
        mlflow.log_metrics({f"fps.{fmt}": row["fps"] for fmt, row in summary.items()})
        mlflow.log_artifact(str(paths.BENCH_RAW), "reports")
        mlflow.log_artifact(str(paths.BENCH_SUMMARY), "reports")
    print_summary(summary, params.bench.threads)
