"""What the CI workflow tells a pull request, in one comment updated in place: the gate table, the
metrics against main (from main's reports, kept by CI as a baseline), the per-format table, per-class
precision/recall and the confusion matrix, all in the comment itself.

Standard library only, so any job can run it: `python -m paddy_edge.ci.report render|post ...`."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

from paddy_edge.ci.github import GitHub, MissingSetting
from paddy_edge.format_table import FORMAT_COLUMNS, format_rows

MARKER = "<!-- paddy-edge-report -->"
# One comment per kind, each updated in place: the pipeline's report, and the flutter job's APK check.
MARKERS = {"report": MARKER, "apk": "<!-- paddy-edge-apk -->"}
BOT = "github-actions[bot]"  # the only author whose comment the report updates
METRIC_FILES = ("eval.json", "bench.json", "train_metrics.json", "data_report.json")
# Which way is better, by any part of a metric's dotted name; the others get an arrow, no verdict.
HIGHER_IS_BETTER = {"accuracy", "agreement", "fps", "valid_accuracy", "precision", "recall", "f1"}
LOWER_IS_BETTER = {"median_ms", "size_mb", "max_abs_prob_diff", "valid_loss", "skipped", "skipped_pct"}


def _numbers(tree: dict) -> dict[str, float]:
    """The numeric leaves of a metrics file under dotted names (as DVC and MLflow show them), without the
    data report's per-class counts."""
    found, stack = {}, [("", tree)]
    while stack:
        prefix, node = stack.pop()
        for key, value in node.items():
            if isinstance(value, dict):
                stack.append((f"{prefix}{key}.", value))
            elif isinstance(value, int | float) and not isinstance(value, bool):
                found[f"{prefix}{key}"] = float(value)
    return {name: value for name, value in found.items() if not name.startswith("per_class.")}


def _load(folder: Path | None, name: str) -> dict:
    if folder is None or not (folder / name).is_file():
        return {}
    return json.loads((folder / name).read_text())


def gate_table(reports: Path) -> str:
    gate = _load(reports, "gate.json")
    if not gate:
        return "_No gate report: the pipeline stopped before the gate stage._"
    lines = ["| check | value | threshold | result |", "| --- | ---: | ---: | :---: |"]
    for check in gate["checks"]:
        verdict = "✅ pass" if check["passed"] else "❌ **FAIL**"
        lines.append(
            f"| {check['name']} | {check['value']:.4g} | {check['op']} {check['threshold']:g} | {verdict} |"
        )
    summary = "**All gates passed.**" if gate["passed"] else "**Gates failed: this model must not ship.**"
    registry = gate.get("registry")
    if registry:
        aliases = " and ".join(f"`{a}`" for a in registry["aliases"])
        summary += f" Registered `{registry['registered_model']}` v{registry['version']} as {aliases}."
    elif gate.get("registry_skipped"):
        summary += " Not registered: pull requests never move the registry (main and tags do)."
    if gate.get("mlflow_run_id"):
        summary += f" MLflow run `{gate['mlflow_run_id']}`."
    return "\n".join([summary, "", *lines])


def _arrow(metric: str, before: float, after: float) -> str:
    if after == before:
        return "="
    up = after > before
    parts = set(metric.split("."))
    better = up if parts & HIGHER_IS_BETTER else (not up if parts & LOWER_IS_BETTER else None)
    arrow = "↑" if up else "↓"
    return arrow if better is None else f"{arrow} {'🟢' if better else '🔴'}"


def metrics_diff(new: Path, baseline: Path | None) -> str:
    """Every headline metric of this run against main's: value, change and an arrow (🟢 better, 🔴 worse)."""
    if baseline is None or not any((baseline / name).is_file() for name in METRIC_FILES):
        return "_No baseline from main yet: the diff appears once main has run this profile._"
    changed, same = [], 0
    show = lambda v: "—" if v is None else f"{v:.4g}"  # noqa: E731
    for name in METRIC_FILES:
        old, current = _numbers(_load(baseline, name)), _numbers(_load(new, name))
        for metric in sorted(set(old) | set(current)):
            before, after = old.get(metric), current.get(metric)
            if before is not None and before == after:
                same += 1
                continue
            if before is None or after is None:
                change, arrow = "new" if before is None else "gone", ""
            else:
                change, arrow = f"{after - before:+.4g}", _arrow(metric, before, after)
            changed.append(f"| {name} | {metric} | {show(before)} | {show(after)} | {change} | {arrow} |")
    if not changed:
        return f"_All {same} metrics equal main's._"
    header = ["| file | metric | main | this run | change | |", "| --- | --- | ---: | ---: | ---: | :---: |"]
    return "\n".join([*header, *changed, "", f"{same} other metric(s) equal main's."])


def failed_formats(gate: dict) -> set[str]:
    """The formats that a failed check of gate.json judged (each check names its `format`)."""
    return {
        str(check["format"])
        for check in gate.get("checks", [])
        if isinstance(check, dict) and not check.get("passed", True) and check.get("format")
    }


def format_table(reports: Path) -> str:
    bench, evaluation = _load(reports, "bench.json"), _load(reports, "eval.json")
    if not bench:
        return "_No benchmark report._"
    failed = failed_formats(_load(reports, "gate.json"))
    rows = format_rows(bench, evaluation)
    for row in rows:
        row[0] = f"**{row[0]}** ❌" if row[0] in failed else row[0]
    lines = [
        "| " + " | ".join(FORMAT_COLUMNS) + " |",
        "| --- |" + " ---: |" * (len(FORMAT_COLUMNS) - 1),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    if failed:
        lines += ["", f"❌ failed its gates: {', '.join(sorted(failed))} (see the gate table)."]
    limit = bench.get("compute_limit")
    if isinstance(limit, dict) and "limit_ms" in limit:
        lines += [
            "",
            f"Compute limit {limit['limit_ms']:.2f} ms: the model's {limit['model_gflop']:.3f} GFLOP per "
            f"photo at this CPU's fp32 GEMM rate ({limit['gemm_gflops']:.0f} GFLOP/s, {limit['threads']} "
            "thread(s)). Each format is timed in its own process, in rotation: median ms is its best "
            "pass's, spread how much slower its slowest pass was, × eager its fastest run over eager's "
            "fastest.",
        ]
    return "\n".join(lines)


def _per_class_rows(reports: Path) -> list[dict[str, str]]:
    """per_class.csv's rows (class, precision, recall, f1, support), in the labels' order."""
    path = reports / "per_class.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def per_class_table(reports: Path) -> str:
    rows = _per_class_rows(reports)
    if not rows:
        return "_No per-class report._"
    lines = ["| class | precision | recall | F1 | photos |", "| --- | ---: | ---: | ---: | ---: |"]
    for row in rows:
        precision, recall, f1 = (float(row[key]) for key in ("precision", "recall", "f1"))
        lines.append(f"| {row['class']} | {precision:.3f} | {recall:.3f} | {f1:.3f} | {row['support']} |")
    return "\n".join(lines)


def confusion_table(reports: Path) -> str:
    """Counts of (actual, predicted) from predictions.csv; columns are numbered to keep the table narrow."""
    predictions = reports / "predictions.csv"
    if not predictions.is_file():
        return "_No predictions report._"
    with predictions.open(newline="") as handle:
        pairs = Counter((row["actual"], row["predicted"]) for row in csv.DictReader(handle))
    labels = [row["class"] for row in _per_class_rows(reports)]
    labels = labels or sorted({a for a, _ in pairs} | {p for _, p in pairs})
    numbers = range(1, len(labels) + 1)
    lines = [
        "| actual ↓ / predicted → | " + " | ".join(str(n) for n in numbers) + " |",
        "| --- | " + " | ".join("---:" for _ in numbers) + " |",
    ]
    for n, actual in zip(numbers, labels, strict=True):
        cells = []
        for predicted in labels:
            count = pairs.get((actual, predicted), 0)
            cells.append(f"**{count}**" if actual == predicted else (str(count) if count else "·"))
        lines.append(f"| {n}. {actual} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(reports: Path, baseline: Path | None, profile: str, artifact_url: str = "") -> str:
    picture = (
        f" The same matrix as a picture, and every report: [workflow artifact]({artifact_url})."
        if (artifact_url)
        else ""
    )
    return "\n".join(
        [
            MARKER,
            f"## paddy-edge pipeline ({profile} profile)",
            "",
            "### Gates",
            gate_table(reports),
            "",
            "### Metrics against main",
            metrics_diff(reports, baseline),
            "",
            "### Formats (batch-1 latency on the CI runner's CPU; drop and agreement against eager)",
            format_table(reports),
            "",
            "### Per class (the phone's model, validation photos preprocessed as on the phone)",
            per_class_table(reports),
            "",
            "### Confusion matrix (the phone's model)",
            confusion_table(reports),
            picture.strip(),
            "",
        ]
    )


def upsert_comment(body: str, github: GitHub, pr: int, marker: str = MARKER) -> str:
    """Update the PR's paddy-edge comment of this kind (the bot's, carrying `marker`: anyone can paste
    the marker), or create it, with the marker on top. Returns 'updated' or 'created'."""
    if marker not in body:
        body = f"{marker}\n{body}"
    for comment in github.comments(pr):
        author = (comment.get("user") or {}).get("login")
        if author == BOT and marker in (comment.get("body") or ""):
            github.update_comment(comment["id"], body)
            return "updated"
    github.create_comment(pr, body)
    return "created"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    draw = commands.add_parser("render", help="write the report's markdown")
    draw.add_argument("--reports", type=Path, required=True)
    draw.add_argument("--baseline", type=Path)
    draw.add_argument("--profile", default="smoke")
    draw.add_argument("--artifact-url", default="")
    draw.add_argument("--out", type=Path, required=True)
    gate = commands.add_parser("gate-table", help="write the gate table's markdown")
    gate.add_argument("--reports", type=Path, required=True)
    gate.add_argument("--out", type=Path, required=True)
    post = commands.add_parser(
        "post", help="create or update the PR comment (GITHUB_TOKEN, GITHUB_REPOSITORY)"
    )
    post.add_argument("--file", type=Path, required=True)
    post.add_argument("--pr", type=int, required=True)
    post.add_argument("--kind", choices=sorted(MARKERS), default="report", help="which comment: one of each")
    args = parser.parse_args(argv)

    if args.command == "render":
        args.out.write_text(render(args.reports, args.baseline, args.profile, args.artifact_url))
    elif args.command == "gate-table":
        args.out.write_text(gate_table(args.reports) + "\n")
    else:
        try:
            github = GitHub.from_environment()
        except MissingSetting as exc:
            print(f"error: {exc} (to post the comment)", file=sys.stderr)
            return 2
        outcome = upsert_comment(args.file.read_text(), github, args.pr, MARKERS[args.kind])
        print(f"PR #{args.pr}: {args.kind} comment {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
