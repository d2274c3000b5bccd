"""`paddy-edge predict IMAGE...`: the exported lite model on image files, preprocessed as the phone does.
A file that is not an image gets a clear message; the other files still get their answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import UnidentifiedImageError
from rich.console import Console

from paddy_edge import paths
from paddy_edge.formats import PHONE_FORMAT, REGISTRY, runner
from paddy_edge.preprocess import load_app_input, softmax


def top_k(probabilities: np.ndarray, labels: list[str], k: int) -> list[tuple[str, float]]:
    order = np.argsort(-probabilities)[:k]
    return [(labels[i], float(probabilities[i])) for i in order]


def classify(images: list[Path], model_dir: Path, k: int) -> dict[Path, list[tuple[str, float]] | str]:
    """Top-k (label, probability) per image, or the reason the image could not be read."""
    card = paths.read_json(model_dir / paths.MODEL_CARD.name, "export")
    run = runner(PHONE_FORMAT, file=model_dir / REGISTRY[PHONE_FORMAT].file.name)
    answers: dict[Path, list[tuple[str, float]] | str] = {}
    for image in images:
        try:
            pixels = load_app_input(image, card["input"])
        except FileNotFoundError:
            answers[image] = "no such file"
            continue
        except (UnidentifiedImageError, OSError) as exc:
            reason = "not an image" if isinstance(exc, UnidentifiedImageError) else f"cannot decode ({exc})"
            answers[image] = reason
            continue
        answers[image] = top_k(softmax(run(pixels[None]))[0], card["labels"], k)
    return answers


def main(images: list[Path], model_dir: Path, k: int) -> bool:
    console = Console()
    answers = classify(images, model_dir, k)
    for image, answer in answers.items():
        if isinstance(answer, str):
            console.print(f"[bold red]{image}[/]: {answer}", highlight=False)
            continue
        ranked = ", ".join(f"{label} {probability:.1%}" for label, probability in answer)
        console.print(f"[bold]{image}[/]: {ranked}", highlight=False)
    return all(not isinstance(answer, str) for answer in answers.values())
