"""The model files the Flutter app ships: where they go in flutter_app/ and the checks they must pass
before they go there.

The release workflow runs `python -m paddy_edge.ci.app_assets --from model --app flutter_app` (standard
library only) to put the gated model in the app; `paddy-edge app-assets` is the same for a person, and
its `--placeholder` writes the untrained bundle (paddy_edge.stages.export.write_placeholder)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from paddy_edge import paths
from paddy_edge.errors import UserError

# export output -> path inside flutter_app/ (the pubspec.yaml must declare each of these)
APP_ASSETS = {
    paths.LITE_MODEL.name: "assets/models/model.ptl",
    paths.MODEL_CARD.name: "assets/models/model_card.json",
    paths.EXPORT_LABELS.name: "assets/labels/labels.txt",
}

# What pytorch_lite 4.3.2 does to a photo before the model sees it (lib/image_utils_isolate.dart): decode,
# copyResize to the card's width x height (aspect not kept, nearest neighbour), each channel / 255, then
# (x - mean) / std, RGB planes as NCHW float32; the app takes the model's raw output as logits and computes
# the softmax. A bundle whose card asks for anything else would be fed the wrong pixels on the phone, so it
# is refused here; the app refuses the same cards (appInputContract in flutter_app/lib/src/model_card.dart).
APP_INPUT_CONTRACT = {"channels": 3, "layout": "NCHW", "resize": "squish", "resample": "nearest"}
APP_SCALE = 1 / 255
APP_OUTPUT = "logits"
# Where a card's value comes from, so the message can say what to change.
_CONTRACT_SOURCE = {"resample": "evaluate.resample in params.yaml"}


def check_app_contract(card: dict, card_path: Path) -> None:
    """The card asks for the preprocessing and output the app (pytorch_lite) honours, or UserError."""
    inputs = card.get("input")
    if not isinstance(inputs, dict):
        raise UserError(f"{card_path} has no 'input' section: export again")
    for key, expected in APP_INPUT_CONTRACT.items():
        if inputs.get(key) != expected:
            source = _CONTRACT_SOURCE.get(key, "the export stage")
            raise UserError(
                f"{card_path}: input.{key} is {json.dumps(inputs.get(key))}, but the app (pytorch_lite) can "
                f"only feed {json.dumps(expected)}: set it in {source} and export again"
            )
    scale = inputs.get("scale")
    if not isinstance(scale, int | float) or abs(scale - APP_SCALE) > 1e-9:
        raise UserError(
            f"{card_path}: input.scale is {json.dumps(scale)}, but the app scales pixels by 1/255: "
            "export again"
        )
    if card.get("output") != APP_OUTPUT:
        raise UserError(
            f"{card_path}: output is {json.dumps(card.get('output'))}, but the app expects "
            f"{json.dumps(APP_OUTPUT)} (it computes the softmax itself): export the model's raw scores"
        )


def check_bundle(files: dict[str, Path]) -> dict:
    """The card, the labels and the model agree, as the app needs them to; return the card.
    `files` maps each name in APP_ASSETS (model.ptl, model_card.json, labels.txt) to where it is."""
    for path in files.values():
        if not path.is_file():
            raise UserError(f"{path} is missing: run `dvc repro export` first")
    card_path, labels_path = files[paths.MODEL_CARD.name], files[paths.EXPORT_LABELS.name]
    model = files[paths.LITE_MODEL.name]
    card = json.loads(card_path.read_text())
    check_app_contract(card, card_path)
    labels_text = labels_path.read_text()
    if labels_text.endswith("\n"):
        raise UserError(f"{labels_path} ends with a newline: the app would read an extra, empty label")
    labels = labels_text.split("\n")
    if labels != card["labels"] or len(labels) != card["num_classes"]:
        raise UserError(f"{labels_path} ({len(labels)} labels) does not match {card_path}")
    if paths.sha256(model) != card["files"][paths.LITE_MODEL.name]["sha256"]:
        raise UserError(f"{model} is not the model {card_path} describes (sha256 differs): export again")
    embedded = paths.read_lite_metadata(model)
    for key in ("labels", "input", "placeholder"):
        if embedded[key] != card[key]:
            raise UserError(f"{model} metadata '{key}' differs from {card_path}: export again")
    return card


def exported_files(export_dir: Path) -> dict[str, Path]:
    return {name: export_dir / name for name in APP_ASSETS}


def app_files(app_dir: Path = paths.FLUTTER_APP) -> dict[str, Path]:
    return {name: app_dir / target for name, target in APP_ASSETS.items()}


def install(export_dir: Path, app_dir: Path = paths.FLUTTER_APP) -> dict:
    """Check the exported bundle, then copy it into the app's assets."""
    card = check_bundle(exported_files(export_dir))
    for name, destination in app_files(app_dir).items():
        with paths.atomic_file(destination) as tmp:
            shutil.copyfile(export_dir / name, tmp)
    check_bundle(app_files(app_dir))
    return card


def main(argv: list[str] | None = None) -> int:
    """`python -m paddy_edge.ci.app_assets --from DIR --app DIR`: runs with the standard library alone."""
    parser = argparse.ArgumentParser(description="Check an exported model bundle and copy it into the app.")
    parser.add_argument("--from", dest="export_dir", type=Path, default=paths.EXPORTED)
    parser.add_argument("--app", dest="app_dir", type=Path, default=paths.FLUTTER_APP)
    args = parser.parse_args(argv)
    try:
        card = install(args.export_dir, args.app_dir)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Installed {card['name']} ({card['num_classes']} classes) into {args.app_dir}/assets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
