"""The model card (models/export/model_card.json): read and checked for shape in one place, so a card
that is valid JSON but not one export wrote ({}, a list, a height given as text) is one message naming
the key, wherever it is read (predict, evaluate, app-assets, the release jobs); and held to what the app
can feed the model (the gate and app-assets). Standard library only."""

from __future__ import annotations

from numbers import Real
from pathlib import Path
from typing import Any

from paddy_edge import paths
from paddy_edge.errors import UserError
from paddy_edge.phone.contract import app_contract_problem
from paddy_edge.runtime import outputs


def _problem(card: Any) -> str | None:
    """What is wrong with the card's shape, or None."""
    if not isinstance(card, dict):
        return f"it holds a {type(card).__name__}, not a mapping of keys"
    labels = card.get("labels")
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) and x for x in labels)):
        return "'labels' must be a non-empty list of label names"
    if len(set(labels)) != len(labels):
        return "'labels' lists a label twice"
    if card.get("num_classes") != len(labels):
        return f"'num_classes' is {card.get('num_classes')!r} but 'labels' lists {len(labels)}"
    inputs = card.get("input")
    if not isinstance(inputs, dict):
        return "'input' must be a mapping (height, width, mean, std, ...)"
    for key in ("height", "width"):
        value = inputs.get(key)
        if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            return f"'input.{key}' is {value!r}, not a positive whole number of pixels"
    for key in ("mean", "std"):
        values = inputs.get(key)
        if not (isinstance(values, list) and len(values) == 3 and all(isinstance(v, Real) for v in values)):
            return f"'input.{key}' is {values!r}, not three numbers (R, G, B)"
    if any(v <= 0 for v in inputs["std"]):
        return "'input.std' must be positive"
    if not isinstance(card.get("placeholder", False), bool):
        return "'placeholder' must be true or false"
    built = card.get("formats", {})
    if not isinstance(built, dict) or not all(isinstance(info, dict) for info in built.values()):
        return "'formats' must map each built format to its files"
    files = card.get("files", {})
    if not isinstance(files, dict) or not all(
        isinstance(info, dict) and isinstance(info.get("sha256"), str) for info in files.values()
    ):
        return "'files' must map each file name to its bytes and sha256"
    return None


def check_card(card: Any, where: Path) -> dict:
    """The card, if its shape is one export writes; otherwise UserError naming the key."""
    problem = _problem(card)
    if problem:
        raise UserError(
            f"{where} is not a model card this pipeline wrote: {problem}. Run `dvc repro --force export` "
            "(or copy the whole export folder again)"
        )
    return card


def read_card(path: Path = paths.MODEL_CARD) -> dict:
    return check_card(outputs.read_json(path, "export"), path)


def fingerprints(card: dict, folder: Path, card_path: Path = paths.MODEL_CARD) -> dict[str, str]:
    """The sha256 of every file the card lists, which must be the bytes export wrote (and evaluate and
    bench measured); UserError naming the first that is missing or differs."""
    found = {}
    for name, described in card["files"].items():
        file = folder / name
        if not file.is_file():
            raise UserError(f"{file} is missing, and {card_path} lists it: run dvc repro -f export")
        found[name] = outputs.sha256(file)
        if found[name] != described["sha256"]:
            raise UserError(
                f"{file} is not the file export wrote and evaluate and bench measured (its sha256 differs "
                f"from {card_path}'s): it is never judged or registered as it is. Rerun dvc repro -f export "
                "(then evaluate, bench and the gate judge the new files)"
            )
    return found


# What pytorch_lite 4.3.2 does to a photo before the model sees it (lib/image_utils_isolate.dart): decode,
# copyResize to the card's width x height (aspect not kept, nearest neighbour), each channel / 255, then
def check_app_contract(card: dict, card_path: Path) -> None:
    problem = app_contract_problem(card)
    if problem:
        raise UserError(f"{card_path}: {problem}")
