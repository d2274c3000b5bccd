"""Stage bench: batch-1 latency of every registered format with pytest-benchmark
(benchmarks/test_latency.py), file sizes, and a summary table (format, size MB, median ms, FPS) as a
DVC metric and in MLflow. Accuracy is evaluate's: bench does not read it, so a re-evaluation does not
re-benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from paddy_edge import paths, tracking
from paddy_edge.card import read_card
from paddy_edge.config import BenchParams, Params
from paddy_edge.errors import UserError
from paddy_edge.formats import REGISTRY, runner

BENCH_TESTS = Path("benchmarks/test_latency.py")


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
        if run_child(command, env) != 0:
            raise UserError(f"the benchmarks in {BENCH_TESTS} failed (see above)")
    return paths.read_json(target, "bench")


def run_child(command: list[str], env: dict[str, str]) -> int:
    """subprocess.run leaves the child running when Ctrl-C lands while it is being spawned: it would go on
    writing into the temporary output after the stage removed it. SIGINT is held until the child is
    ours to kill."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    child = None
    try:
        child = subprocess.Popen(command, env=env)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return child.wait()
    except BaseException:
        if child is not None:
            child.kill()
            child.wait()
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def summarize(raw: dict) -> dict:
    """pytest-benchmark's JSON -> {format: size_mb, median_ms, fps}, in the registry's order."""
    medians = {bench["extra_info"]["format"]: bench["stats"]["median"] for bench in raw["benchmarks"]}
    return {
        fmt: {
            "size_mb": round(REGISTRY[fmt].file.stat().st_size / 1e6, 3),
            "median_ms": round(medians[fmt] * 1000, 3),
            "fps": round(1 / medians[fmt], 1),
        }
        for fmt in REGISTRY
        if fmt in medians
    }


def print_summary(summary: dict, threads: int) -> None:
    table = Table(title=f"Batch-1 latency on this CPU ({threads} thread(s))")
    for column in ("format", "size MB", "median ms", "× eager", "FPS"):
        table.add_column(column, justify="left" if column == "format" else "right")
    eager = summary.get("eager", {}).get("median_ms")
    for fmt, row in summary.items():
        ratio = f"{row['median_ms'] / eager:.2f}" if eager else "-"
        table.add_row(fmt, f"{row['size_mb']:.2f}", f"{row['median_ms']:.2f}", ratio, f"{row['fps']:.1f}")
    Console().print(table)


def check_exports() -> None:
    """Every format loads here before the benchmark child starts: a missing or damaged file is one
    message naming it, not pytest's tracebacks (and nothing is created in a wrong folder)."""
    read_card()
    for fmt in REGISTRY:
        runner(fmt, threads=1)


def run(params: Params) -> None:
    import mlflow

    check_exports()
    with tracking.resume_run(params.mlflow.experiment, "bench"):
        tracking.log_settings(params, "bench")
        raw = run_benchmarks(params.bench, paths.BENCH_RAW)
        summary = summarize(raw)
        paths.write_json(paths.BENCH_SUMMARY, summary)
        mlflow.log_metrics({f"latency_ms.{fmt}": row["median_ms"] for fmt, row in summary.items()})
        mlflow.log_metrics({f"fps.{fmt}": row["fps"] for fmt, row in summary.items()})
        mlflow.log_artifact(str(paths.BENCH_RAW), "reports")
        mlflow.log_artifact(str(paths.BENCH_SUMMARY), "reports")
    print_summary(summary, params.bench.threads)
