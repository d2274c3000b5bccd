"""The formats table: one row per benchmarked format, from bench.json and eval.json. The bench stage
prints and logs it, and the PR comment (ci/report.py) shows it: here, so that rewording the comment does
not make bench (a dependency in dvc.yaml) time every format again. Standard library only: release.yml
runs the report with the runner's python3, outside the venv."""

from __future__ import annotations

FORMAT_COLUMNS = (
    "format",
    "file MB",
    "× smaller",
    "accuracy",
    "drop",
    "agreement",
    "median ms",
    "spread",
    "× eager",
    "× limit",
)


def format_rows(bench: dict, evaluation: dict) -> list[list[str]]:
    """One row per benchmarked format: how much smaller than eager's weights, how much accuracy it lost,
    how often it agrees with eager, and how fast, against eager and against this CPU's compute limit."""
    rows = {fmt: row for fmt, row in bench.items() if isinstance(row, dict) and "median_ms" in row}
    accuracy, agreement = evaluation.get("accuracy", {}), evaluation.get("agreement", {})
    eager, eager_accuracy = rows.get("eager", {}), accuracy.get("eager")
    table = []
    for fmt, row in rows.items():
        smaller = f"{eager['size_mb'] / row['size_mb']:.2f}" if eager.get("size_mb") else "—"
        acc = accuracy.get(fmt)
        drop = f"{eager_accuracy - acc:+.3f}" if acc is not None and eager_accuracy is not None else "—"
        # Its fastest run over eager's, in the same rotation (rotation.py); else the two best medians.
        ratio = row.get("ratio_to_eager")
        if ratio is None and eager.get("median_ms"):
            ratio = row["median_ms"] / eager["median_ms"]
        faster = "—" if ratio is None else f"{ratio:.2f}"
        table.append(
            [
                fmt,
                f"{row['size_mb']:.2f}",
                smaller,
                "—" if acc is None else f"{acc:.3f}",
                drop if fmt != "eager" else "—",
                "—" if fmt not in agreement else f"{agreement[fmt]:.3f}",
                f"{row['median_ms']:.2f}",
                f"{row['spread_pct']:.0f}%" if "spread_pct" in row else "—",
                faster,
                f"{row['x_limit']:.2f}" if "x_limit" in row else "—",
            ]
        )
    return table
