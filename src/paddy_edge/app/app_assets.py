"""The model files the Flutter app ships: where they go in flutter_app/ and the checks they must pass
before they go there.

The release workflow runs `python -m paddy_edge.app.app_assets --from model --app flutter_app --gate
model/gate.json` (standard library only) to put the gated model in the app; `paddy-edge app-assets` is
the same for a person, and its `--placeholder` writes the untrained bundle
(paddy_edge.stages.export.write_placeholder).

Only a model whose gate passed goes in: the gate report (gate.json beside the bundle, else the
workspace's reports/gate.json) must say passed, for the model card's MLflow run. The card records the run
export logged into; the gate records the run it logged into and train's run. These are one run, except
when training came from a DVC cache into a store that never saw train's run: the later stages then log
into a stand-in (tracking._run_for), and a card exported where train's run was known names train's run.
So the card's run must be either of the gate's. `--force` installs anyway, with a warning, for
experiments. The untrained placeholder (its card says placeholder) needs no gate: the app shows it as
untrained."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from paddy_edge import paths, pte
from paddy_edge.card import check_app_contract, read_card
from paddy_edge.errors import UserError
from paddy_edge.runtime import outputs

GATE_FILE = "gate.json"
GATE_HELP = "The gate report (default: gate.json beside the bundle, else its workspace's reports/gate.json)."
FORCE_HELP = "Install even if the gate failed or is missing, with a warning: for experiments only."

# export output -> path inside flutter_app/ (the pubspec.yaml must declare each of these)
# The phone program is the card's `phone.file` (model.pte; model.int8.pte with export.phone_int8).
APP_ASSETS = {
    paths.PHONE_MODEL.name: "assets/models/model.pte",
    paths.MODEL_CARD.name: "assets/models/model_card.json",
    paths.EXPORT_LABELS.name: "assets/labels/labels.txt",
}


def check_bundle(files: dict[str, Path]) -> dict:
    """The card, the labels and the model agree, as the app needs them to; return the card.
    `files` maps each name in APP_ASSETS (model.pte, model_card.json, labels.txt) to where it is."""
    for path in files.values():
        if not path.is_file():
            raise UserError(f"{path} is missing: run `dvc repro export` first")
    card_path, labels_path = files[paths.MODEL_CARD.name], files[paths.EXPORT_LABELS.name]
    model = files[paths.PHONE_MODEL.name]
    card = read_card(card_path)
    check_app_contract(card, card_path)
    labels_text = labels_path.read_text()
    if labels_text.endswith("\n"):
        raise UserError(f"{labels_path} ends with a newline: the app would read an extra, empty label")
    labels = labels_text.split("\n")
    if labels != card["labels"] or len(labels) != card["num_classes"]:
        raise UserError(f"{labels_path} ({len(labels)} labels) does not match {card_path}")
    if outputs.sha256(model) != card["phone"]["sha256"]:
        raise UserError(
            f"{model} is not the program {card_path} names for the phone ({card['phone']['file']}, sha256 "
            "differs): export again"
        )
    problem = pte.problem(model)
    if problem:
        raise UserError(f"{model}: {problem}; export again")
    return card


def exported_files(export_dir: Path) -> dict[str, Path]:
    """The export's files for the app: the phone program is the one the card names."""
    files = {name: export_dir / name for name in APP_ASSETS}
    card_path = files[paths.MODEL_CARD.name]
    if card_path.is_file():
        program = read_card(card_path).get("phone", {}).get("file")
        if isinstance(program, str) and "/" not in program:
            files[paths.PHONE_MODEL.name] = export_dir / program
    return files


def app_files(app_dir: Path = paths.FLUTTER_APP) -> dict[str, Path]:
    return {name: app_dir / target for name, target in APP_ASSETS.items()}


def default_gate_report(export_dir: Path) -> Path:
    """gate.json beside the bundle (the release's model artifact), else the gate report of the workspace
    whose models/export this is."""
    beside = export_dir / GATE_FILE
    return beside if beside.is_file() else export_dir.parent.parent / paths.GATE_REPORT


def check_gate(card: dict, card_path: Path, gate_path: Path, model: Path) -> None:
    """The gate passed for this card's model and judged these very bytes of `model` (the phone's), or
    UserError saying why not and what to do."""
    rerun = "run `dvc repro` so that the gate judges this model (or --force, for an experiment only)"
    try:
        gate = json.loads(gate_path.read_text())
    except FileNotFoundError:
        raise UserError(f"{gate_path} is missing: no gate verdict on this model; {rerun}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{gate_path} is not a gate report ({exc}); {rerun}") from None
    if not isinstance(gate, dict) or not isinstance(gate.get("passed"), bool):
        raise UserError(f"{gate_path} is not a gate report (no 'passed'); {rerun}")
    if not gate["passed"]:
        checks = gate.get("checks") if isinstance(gate.get("checks"), list) else []
        failed = [c.get("name") for c in checks if isinstance(c, dict) and not c.get("passed")]
        which = f" ({', '.join(map(str, failed))})" if failed else ""
        raise UserError(
            f"{gate_path} says the gate failed{which}: a failed model never goes into the app; fix the model "
            "or params and rerun `dvc repro` (or --force, for an experiment only)"
        )
    gate_runs = [gate.get(key) for key in ("mlflow_run_id", "train_run_id") if gate.get(key)]
    card_run = card.get("mlflow_run_id")
    if card.get("train_run_id") and gate.get("train_run_id"):
        # Both name the training run: the same in every store, whichever stand-in run each logged into.
        card_run, gate_runs = card["train_run_id"], [gate["train_run_id"]]
    if card_run not in gate_runs:
        raise UserError(
            f"{gate_path} passed MLflow run {' / '.join(map(str, gate_runs)) or '(none)'}, but "
            f"{card_path} is the model of run {card_run}: the gate's verdict is not the model's; {rerun}"
        )
    judged = gate.get("model_sha256")
    if not isinstance(judged, str):
        raise UserError(f"{gate_path} does not say which {model.name} it judged (no model_sha256); {rerun}")
    if judged != outputs.sha256(model):
        # Same run, other bytes: export ran again (other params) and a later stage failed before the gate.
        raise UserError(
            f"{gate_path} judged a different {model.name} (sha256 {judged[:12]}…), not {model}: the gate "
            f"has not judged this export; {rerun}"
        )


def install(
    export_dir: Path,
    app_dir: Path = paths.FLUTTER_APP,
    gate_report: Path | None = None,
    force: bool = False,
) -> dict:
    """Check the exported bundle and its gate verdict (placeholders need none), then copy it into the
    app's assets. With `force`, a missing or failed verdict is a warning on stderr instead."""
    exported = exported_files(export_dir)
    card = check_bundle(exported)
    if not card["placeholder"]:
        gate_path = default_gate_report(export_dir) if gate_report is None else gate_report
        try:
            check_gate(card, exported[paths.MODEL_CARD.name], gate_path, exported[paths.PHONE_MODEL.name])
        except UserError as exc:
            if not force:
                raise
            print(
                f"WARNING: --force installs a model the gate did not pass ({exc}). Experiments only: "
                "never ship or release this build.",
                file=sys.stderr,
            )
    for name, destination in app_files(app_dir).items():
        with outputs.atomic_file(destination) as tmp:
            shutil.copyfile(exported[name], tmp)
    check_bundle(app_files(app_dir))
    return card


def main(argv: list[str] | None = None) -> int:
    """`python -m paddy_edge.app.app_assets --from DIR --app DIR`: runs with the standard library alone."""
    parser = argparse.ArgumentParser(description="Check an exported model bundle and copy it into the app.")
    parser.add_argument("--from", dest="export_dir", type=Path, default=paths.EXPORTED)
    parser.add_argument("--app", dest="app_dir", type=Path, default=paths.FLUTTER_APP)
    parser.add_argument("--gate", dest="gate_report", type=Path, help=GATE_HELP)
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
    args = parser.parse_args(argv)
    try:
        card = install(args.export_dir, args.app_dir, args.gate_report, args.force)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Installed {card['name']} ({card['num_classes']} classes) into {args.app_dir}/assets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
