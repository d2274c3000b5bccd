"""The model card (models/export/model_card.json): read and checked for shape in one place, so a card
that is valid JSON but not one export wrote ({}, a list, a height given as text) is one message naming
the key, wherever it is read (predict, evaluate, app-assets, the release jobs). Standard library only."""

from __future__ import annotations

from numbers import Real
from pathlib import Path
from typing import Any

from paddy_edge import paths
from paddy_edge.errors import UserError


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
    return check_card(paths.read_json(path, "export"), path)
