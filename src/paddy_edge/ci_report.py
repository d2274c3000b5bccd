"""What the CI workflow tells a pull request: one comment, updated in place, with the gate table, the
metrics diff against main, the per-format table and a link to the confusion matrix.

Standard library only, so any job can run it: `python -m paddy_edge.ci_report render|post ...`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path

from paddy_edge.tracking import flatten

MARKER = "<!-- paddy-edge-report -->"
METRIC_FILES = ("eval.json", "bench.json", "train_metrics.json", "data_report.json")


def _numbers(tree: dict) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in flatten(tree).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


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
    return "\n".join([summary, "", *lines])


def metrics_diff(new: Path, baseline: Path | None) -> str:
    """Like `dvc metrics diff --md`, between two folders of metric files (main's and this run's)."""
    if baseline is None or not any((baseline / name).is_file() for name in METRIC_FILES):
        return "_No baseline from main yet: the diff appears once main has run this profile._"
    lines = ["| file | metric | main | this PR | change |", "| --- | --- | ---: | ---: | ---: |"]
    for name in METRIC_FILES:
        old, current = _numbers(_load(baseline, name)), _numbers(_load(new, name))
        for metric in sorted(set(old) | set(current)):
            before, after = old.get(metric), current.get(metric)
            change = "—" if before is None or after is None else f"{after - before:+.4g}"
            show = lambda v: "—" if v is None else f"{v:.4g}"  # noqa: E731
            lines.append(f"| {name} | {metric} | {show(before)} | {show(after)} | {change} |")
    return "\n".join(lines)


def format_table(reports: Path) -> str:
    bench = _load(reports, "bench.json")
    if not bench:
        return "_No benchmark report._"
    lines = ["| format | size MB | accuracy | median ms | FPS |", "| --- | ---: | ---: | ---: | ---: |"]
    for fmt, row in bench.items():
        accuracy = "—" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        lines.append(
            f"| {fmt} | {row['size_mb']:.2f} | {accuracy} | {row['median_ms']:.2f} | {row['fps']:.1f} |"
        )
    return "\n".join(lines)


def render(
    reports: Path, baseline: Path | None, profile: str, artifact_url: str, dvc_diff: Path | None
) -> str:
    diff = (
        dvc_diff.read_text().strip() if dvc_diff and dvc_diff.is_file() else metrics_diff(reports, baseline)
    )
    confusion = (
        f"[confusion matrix and all reports (workflow artifact)]({artifact_url})"
        if artifact_url
        else "confusion matrix: see the workflow run's artifacts"
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
            diff or "_No metric changed._",
            "",
            "### Formats (batch-1 latency on the CI runner's CPU)",
            format_table(reports),
            "",
            f"Lite model on validation photos preprocessed as on the phone: {confusion}.",
            "",
        ]
    )


def _request(method: str, url: str, token: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/vnd.github+json")
    request.add_header("X-GitHub-Api-Version", "2022-11-28")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def upsert_comment(
    body: str, repository: str, pr: int, token: str, api: str = "https://api.github.com"
) -> str:
    """Update the PR's paddy-edge comment (found by its marker), or create it. Returns 'updated'/'created'."""
    base = f"{api.rstrip('/')}/repos/{repository}/issues"
    page = 1
    while True:
        comments = _request("GET", f"{base}/{pr}/comments?per_page=100&page={page}", token)
        for comment in comments:
            if MARKER in (comment.get("body") or ""):
                _request("PATCH", f"{base}/comments/{comment['id']}", token, {"body": body})
                return "updated"
        if len(comments) < 100:
            break
        page += 1
    _request("POST", f"{base}/{pr}/comments", token, {"body": body})
    return "created"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    draw = commands.add_parser("render", help="write the report's markdown")
    draw.add_argument("--reports", type=Path, required=True)
    draw.add_argument("--baseline", type=Path)
    draw.add_argument("--profile", default="smoke")
    draw.add_argument("--artifact-url", default="")
    draw.add_argument("--dvc-diff", type=Path, help="output of `dvc metrics diff --md`, used when given")
    draw.add_argument("--out", type=Path, required=True)
    gate = commands.add_parser("gate-table", help="write the gate table's markdown")
    gate.add_argument("--reports", type=Path, required=True)
    gate.add_argument("--out", type=Path, required=True)
    commands.add_parser("profile", help="print profile=smoke|real and its workspace, for $GITHUB_OUTPUT")
    post = commands.add_parser(
        "post", help="create or update the PR comment (GITHUB_TOKEN, GITHUB_REPOSITORY)"
    )
    post.add_argument("--file", type=Path, required=True)
    post.add_argument("--pr", type=int, required=True)
    args = parser.parse_args(argv)

    if args.command == "profile":
        from paddy_edge.kaggle_source import credential_source

        real = credential_source() is not None
        print(f"profile={'real' if real else 'smoke'}\nworkspace={'.' if real else '.smoke'}")
    elif args.command == "render":
        args.out.write_text(
            render(args.reports, args.baseline, args.profile, args.artifact_url, args.dvc_diff)
        )
    elif args.command == "gate-table":
        args.out.write_text(gate_table(args.reports) + "\n")
    else:
        token, repository = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
        if not token or not repository:
            print(
                "error: GITHUB_TOKEN and GITHUB_REPOSITORY must be set to post the comment", file=sys.stderr
            )
            return 2
        api = os.environ.get("GITHUB_API_URL", "https://api.github.com")
        outcome = upsert_comment(args.file.read_text(), repository, args.pr, token, api)
        print(f"PR #{args.pr}: report comment {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
