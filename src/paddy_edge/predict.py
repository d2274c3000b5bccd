"""`paddy-edge predict IMAGE...`: the phone's exported model on image files, preprocessed as the phone does.
A file that is no usable photo gets the reason; the other files still get their answers. A model that cannot
be loaded, or whose outputs disagree with its model card, is one message saying what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console

from paddy_edge import paths
from paddy_edge.card import read_card
from paddy_edge.errors import UserError
from paddy_edge.formats import REGISTRY, Runner, phone_of, runner
from paddy_edge.phone.images import UnreadableImage
from paddy_edge.phone.preprocess import load_app_input, softmax


def top_k(probabilities: np.ndarray, labels: list[str], k: int) -> list[tuple[str, float]]:
    order = np.argsort(-probabilities)[:k]
    return [(labels[i], float(probabilities[i])) for i in order]


def load_model(model_dir: Path) -> tuple[dict, Runner]:
    """The model card and the phone model of an export folder, checked against each other on a blank
    photo of the card's input size."""
    card_file = model_dir / paths.MODEL_CARD.name
    card = read_card(card_file)
    phone = phone_of(card)
    model_file = model_dir / REGISTRY[phone].file.name
    blank = np.zeros((1, 3, card["input"]["height"], card["input"]["width"]), np.float32)
    try:
        run = runner(phone, file=model_file)
        outputs = run(blank).shape[-1]
    except (RuntimeError, ValueError, OSError) as exc:  # what torch raises for a damaged file
        first_sentence = (str(exc).splitlines() or [type(exc).__name__])[0].split(". ")[0][:200]
        raise UserError(
            f"{model_file} cannot be loaded and run as the phone model ({first_sentence}): it is damaged or "
            "incomplete. Run dvc repro export (or copy the whole export folder again)."
        ) from None
    if outputs != len(card["labels"]):
        raise UserError(
            f"{card_file} lists {len(card['labels'])} labels but {model_file} gives {outputs} outputs: "
            "they come from different exports. Run dvc repro export (or copy the whole export folder again)."
        )
    return card, run


Answers = dict[Path, list[tuple[str, float]] | str]


def classify(images: list[Path], model_dir: Path, k: int) -> Answers:
    """Top-k (label, probability) per image, or the reason the image could not be read."""
    return classify_with(*load_model(model_dir), images, k)


def classify_with(card: dict, run: Runner, images: list[Path], k: int) -> Answers:
    answers: Answers = {}
    for image in images:
        try:
            pixels = load_app_input(image, card["input"])
        except UnreadableImage as exc:
            answers[image] = str(exc)
            continue
        answers[image] = top_k(softmax(run(pixels[None]))[0], card["labels"], k)
    return answers


def main(images: list[Path], model_dir: Path, k: int) -> bool:
    console = Console(soft_wrap=True)
    card, run = load_model(model_dir)
    if card["placeholder"]:
        Console(stderr=True, soft_wrap=True).print(
            f"[bold yellow]warning:[/] {model_dir} holds the untrained placeholder model (its card says "
            "placeholder: true): these answers mean nothing. Run `make smoke` or `dvc repro` for a trained "
            "one.",
            highlight=False,
        )
    answers = classify_with(card, run, images, k)
    for image, answer in answers.items():
        if isinstance(answer, str):
            console.print(f"[bold red]{image}[/]: {answer}", highlight=False)
            continue
        ranked = ", ".join(f"{label} {probability:.1%}" for label, probability in answer)
        console.print(f"[bold]{image}[/]: {ranked}", highlight=False)
    return all(not isinstance(answer, str) for answer in answers.values())
