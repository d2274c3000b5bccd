"""Photo -> model input, the way the phone app (pytorch_lite) does it: decode (upright by a JPEG's EXIF
orientation, as the app's decoder does; images.py), squish the whole photo
to the input size with the `image` package's copyResize (nearest neighbour by default), scale to [0, 1],
normalize with the model card's mean/std. Evaluation, predict and the device check all use this, so
the accuracy the pipeline reports is the phone's accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .images import decode  # relative: the served model ships this package under its own name

RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def squish_nearest(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resize as Dart's `image` package does it: target pixel x takes source
    column floor(x * source_width / width), and likewise for rows."""
    rows = (np.arange(height) * (pixels.shape[0] / height)).astype(np.int64)
    cols = (np.arange(width) * (pixels.shape[1] / width)).astype(np.int64)
    return pixels[rows][:, cols]


def app_input(
    image: Image.Image, width: int, height: int, mean, std, resample: str = "nearest"
) -> np.ndarray:
    """One image as a float32 CHW array."""
    rgb = image.convert("RGB")
    if resample == "nearest":
        squished = squish_nearest(np.asarray(rgb), width, height)
    else:
        squished = np.asarray(rgb.resize((width, height), RESAMPLE[resample]))
    pixels = squished.astype(np.float32) / 255.0
    pixels = (pixels - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def load_app_input(path: Path, card_input: dict) -> np.ndarray:
    """Read a photo file and preprocess it as the app would, from the model card's `input` section.
    Raises images.UnreadableImage, whose message says why, for a file that is no usable photo."""
    return app_input(
        decode(path).rgb,
        card_input["width"],
        card_input["height"],
        card_input["mean"],
        card_input["std"],
        card_input.get("resample", "nearest"),
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
