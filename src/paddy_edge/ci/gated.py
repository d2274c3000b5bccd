"""What main gated, and the release's proof that it ships exactly that model.

After a green real-profile run on main, CI records `gated.json` (commit, MLflow run, the sha256 of every
file the release ships) with a copy of the reports, and keeps it in the Actions cache under the hash of
what the pipeline depends on (dvc.yaml, params, src). A release of the same code and params restores it,
reproduces the pipeline from main's DVC run-cache, and `verify` fails if any file differs: the release
would have retrained instead of shipping the model that was reviewed.

Standard library only: `python -m paddy_edge.ci.gated record|verify ...`."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from paddy_edge import paths
from paddy_edge.errors import UserError, exit_code
from paddy_edge.runtime import outputs

RECORD = "gated.json"
SHIPPED = tuple(p.name for p in (paths.PHONE_MODEL, paths.EXPORT_LABELS, paths.MODEL_CARD, paths.ONNX_MODEL))


def record(workspace: Path, out: Path, commit: str, profile: str = "real") -> dict:
    """Write `out/gated.json` and `out/reports/` from a workspace whose gates passed. `profile` says
    what the model was trained on: the real data, or the smoke profile's generated sample."""
    gate_file = workspace / paths.GATE_REPORT
    if not gate_file.is_file():
        raise UserError(f"{gate_file} is missing: the pipeline did not reach the gate stage")
    gate = json.loads(gate_file.read_text())
    if not gate.get("passed"):
        raise UserError(f"{gate_file} says the gates failed: a failed model is never recorded as gated")
    missing = [name for name in SHIPPED if not (workspace / paths.EXPORTED / name).is_file()]
    if missing:
        raise UserError(f"{workspace / paths.EXPORTED} lacks {', '.join(missing)}: rerun `dvc repro export`")
    judged = gate.get("files") or {paths.PHONE_MODEL.name: gate.get("model_sha256")}
    for name, digest in judged.items():
        file = workspace / paths.EXPORTED / name
        if not file.is_file() or outputs.sha256(file) != digest:
            raise UserError(f"{gate_file} did not judge this {file}: rerun `dvc repro` so the gate judges it")
    payload = {
        "commit": commit,
        "profile": profile,
        "mlflow_run_id": gate.get("mlflow_run_id"),
        "files": {name: outputs.sha256(workspace / paths.EXPORTED / name) for name in SHIPPED},
    }
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(workspace / paths.REPORTS, out / paths.REPORTS)
    (out / RECORD).write_text(json.dumps(payload, indent=2) + "\n")
    return payload


def verify(record_file: Path, model_dir: Path) -> list[str]:
    """The problems that make `model_dir` differ from what main gated (none: it is the same model)."""
    try:
        gated = json.loads(record_file.read_text())
    except FileNotFoundError:
        return [f"{record_file} is missing: main has not gated this code and params"]
    problems = []
    for name, digest in gated["files"].items():
        path = model_dir / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif outputs.sha256(path) != digest:
            problems.append(
                f"{path} differs from the {name} that main gated at {gated['commit'][:12]} "
                "(the pipeline retrained instead of restoring main's run-cache)"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    keep = commands.add_parser("record", help="record a passed gate's model files and reports")
    keep.add_argument("--workspace", type=Path, default=Path("."))
    keep.add_argument("--commit", required=True)
    keep.add_argument("--profile", choices=("real", "smoke"), default="real")
    keep.add_argument("--out", type=Path, required=True)
    check = commands.add_parser("verify", help="fail unless the model files are the ones main gated")
    check.add_argument("--record", type=Path, required=True)
    check.add_argument("--model-dir", type=Path, default=paths.EXPORTED)
    args = parser.parse_args(argv)
    return exit_code(lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    if args.command == "record":
        payload = record(args.workspace, args.out, args.commit, args.profile)
        print(f"recorded the gated {args.profile} model of {payload['commit'][:12]} in {args.out / RECORD}")
    else:
        problems = verify(args.record, args.model_dir)
        if problems:
            raise UserError("the release is not the model main gated: " + "; ".join(problems))
        print(f"{args.model_dir} holds exactly the model files main gated")


if __name__ == "__main__":
    sys.exit(main())
