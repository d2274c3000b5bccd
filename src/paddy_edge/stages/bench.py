"""Stage bench: batch-1 latency of every built format with pytest-benchmark (benchmarks/test_latency.py),
each in its own process, timed in rotation (rotation.py: `bench.passes` passes, eager and the phone format
back to back in each); file sizes; this CPU's compute limit for the model (its FLOPs at the measured
fp32 GEMM rate). The summary is a DVC metric and in MLflow, and with evaluate's accuracy it makes the
formats table (how much smaller, how much accuracy lost, how much faster) and the size-vs-latency plot."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from paddy_edge import paths, rotation
from paddy_edge.card import read_card
from paddy_edge.config import Params
from paddy_edge.format_table import FORMAT_COLUMNS, format_rows
from paddy_edge.formats import REGISTRY, built_formats, runner
from paddy_edge.runtime import outputs
from paddy_edge.tracking import mlflow_runs

TABLE_WIDTH = 120


def compute_limit(threads: int, gemm_size: int = 1024, repeats: int = 10) -> dict:
    """This CPU's fp32 matrix-multiply rate at `threads` (best of `repeats`) and the trained model's FLOPs
    per photo (torch.utils.flop_counter): their quotient is the fastest any format could run here. A
    latency given as a multiple of it means the same on a fast, a slow or a busy machine."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from paddy_edge.model import load_trained

    torch.set_num_threads(threads)
    network, spec = load_trained()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, 3, spec.image_size, spec.image_size))
    a, b = torch.rand(gemm_size, gemm_size), torch.rand(gemm_size, gemm_size)
    best = float("inf")
    with torch.inference_mode():
        for attempt in range(repeats + 2):  # the first two warm the caches and the thread pool
            started = time.perf_counter()
            a @ b
            if attempt >= 2:
                best = min(best, time.perf_counter() - started)
    gflops = 2 * gemm_size**3 / best / 1e9
    model_gflop = counter.get_total_flops() / 1e9
    return {
        "gemm_gflops": round(gflops, 1),
        "model_gflop": round(model_gflop, 4),
        "limit_ms": round(model_gflop / gflops * 1000, 3),
        "threads": threads,
    }


def summarize(raw: dict, limit_ms: float | None = None) -> dict:
    """pytest-benchmark's JSON -> {format: size_mb, median_ms, spread_pct, ratio_to_eager, fps[, x_limit]},
    in the registry's order (rotation.figures says what each timing figure is)."""
    timed = rotation.figures(raw)
    summary = {}
    for fmt in REGISTRY:
        if fmt not in timed:
            continue
        row = {"size_mb": round(sum(file.stat().st_size for file in REGISTRY[fmt].files) / 1e6, 3)}
        row |= timed[fmt]
        row["fps"] = round(1000 / row["median_ms"], 1)
        if limit_ms:
            row["x_limit"] = round(row["median_ms"] / limit_ms, 2)
        summary[fmt] = row
    return summary


def print_table(rows: list[list[str]], limit: dict, passes: int) -> None:
    title = (
        f"Formats: batch-1 latency, {limit['threads']} thread(s), {passes} passes in rotation, each format "
        f"in its own process; the best pass's median. Compute limit "
        f"{limit['limit_ms']:.2f} ms: {limit['model_gflop']:.3f} GFLOP at {limit['gemm_gflops']:.0f} GFLOP/s "
        "(this CPU's fp32 GEMM)"
    )
    table = Table(title=title)
    for column in FORMAT_COLUMNS:
        table.add_column(column, justify="left" if column == "format" else "right")
    for row in rows:
        table.add_row(*row)
    console = Console()
    if console.width < TABLE_WIDTH:  # a log or a narrow terminal: never cut a format's name or a figure
        console = Console(width=TABLE_WIDTH)
    console.print(table)


def write_plot(summary: dict, evaluation: dict, csv_target: Path, png_target: Path) -> None:
    """Size against latency, one point per format: the DVC plot's data and a PNG for people."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    accuracy = evaluation.get("accuracy", {})
    lines = ["format,size_mb,median_ms,accuracy"]
    lines += [
        f"{fmt},{row['size_mb']},{row['median_ms']},{accuracy.get(fmt, '')}" for fmt, row in summary.items()
    ]
    with outputs.atomic_file(csv_target) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for fmt, row in summary.items():
        axes.scatter(row["size_mb"], row["median_ms"])
        axes.annotate(fmt, (row["size_mb"], row["median_ms"]), textcoords="offset points", xytext=(5, 4))
    axes.set_xlabel("file MB")
    axes.set_ylabel("batch-1 median ms (this CPU)")
    axes.set_title("Size against latency, per format")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    with outputs.atomic_file(png_target) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    plt.close(figure)


def check_exports() -> list[str]:
    """Every built format loads here before the benchmark children start: a missing or damaged file is
    one message naming it, not pytest's tracebacks (and nothing is created in a wrong folder)."""
    formats = built_formats(read_card())
    for fmt in formats:
        runner(fmt, threads=1)
    return formats


def run(params: Params) -> None:
    import mlflow

    formats = check_exports()
    with mlflow_runs.resume_run(params.mlflow.experiment, "bench"):
        mlflow_runs.log_settings(params, "bench")
        limit = compute_limit(params.bench.threads)
        raw = rotation.measure(formats, params.bench, params.bench.passes, paths.BENCH_RAW)
        summary = summarize(raw, limit["limit_ms"])
        report = {**summary, "compute_limit": limit}
        outputs.write_json(paths.BENCH_SUMMARY, report)
        evaluation = outputs.read_json(paths.EVAL_METRICS, "evaluate")
        write_plot(summary, evaluation, paths.FORMATS_CSV, paths.FORMATS_PNG)
        mlflow.log_metrics({f"compute_limit.{key}": value for key, value in limit.items()})
        mlflow.log_metrics({f"x_limit.{fmt}": row["x_limit"] for fmt, row in summary.items()})
        mlflow.log_metrics({f"latency_ms.{fmt}": row["median_ms"] for fmt, row in summary.items()})
        mlflow.log_metrics({f"fps.{fmt}": row["fps"] for fmt, row in summary.items()})
        mlflow.log_artifact(str(paths.BENCH_RAW), "reports")
        mlflow.log_artifact(str(paths.BENCH_SUMMARY), "reports")
        for plot in (paths.FORMATS_CSV, paths.FORMATS_PNG):
            mlflow.log_artifact(str(plot), "reports")
        rows = format_rows(report, evaluation)
        mlflow.log_table(
            {column: [row[i] for row in rows] for i, column in enumerate(FORMAT_COLUMNS)}, "formats.json"
        )
    print_table(rows, limit, params.bench.passes)
