"""Offline sample data in exactly the Kaggle layout, zipped, so `data.source: sample` takes the same
verify -> extract path as the real download. Deterministic for a seed.

Each class draws its lesions in its own colour and shape on a field of rice leaves, so a small model
trained from scratch learns them in a few CPU epochs, while light, leaf angle and position vary."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from paddy_edge.config import SampleParams
from paddy_edge.data.labels import PADDY_LABELS

VARIETIES = ("ADT45", "KarnatakaPonni", "Ponni", "AtchayaPonni", "Zonal", "AndraPonni", "Onthanel", "IR20")

# (lesion RGB, shape) per label; "normal" has no lesions and a healthier green.
_LESIONS: dict[str, tuple[tuple[int, int, int], str]] = {
    "bacterial_leaf_blight": ((235, 225, 120), "streak"),
    "bacterial_leaf_streak": ((150, 90, 30), "streak"),
    "bacterial_panicle_blight": ((240, 200, 170), "blob"),
    "blast": ((120, 120, 130), "diamond"),
    "brown_spot": ((110, 60, 20), "dot"),
    "dead_heart": ((60, 40, 30), "blob"),
    "downy_mildew": ((245, 245, 245), "dot"),
    "hispa": ((200, 90, 160), "diamond"),
    "normal": ((0, 0, 0), "none"),
    "tungro": ((250, 150, 0), "blob"),
}


def _draw_leaves(rng: np.random.Generator, width: int, height: int, healthy: bool) -> Image.Image:
    soil = tuple(int(c) for c in rng.integers(60, 100, size=3))
    image = Image.new("RGB", (width, height), soil)
    draw = ImageDraw.Draw(image)
    base_green = np.array([60, 150, 50] if healthy else [95, 140, 55])
    for _ in range(int(rng.integers(8, 14))):
        x = float(rng.uniform(0, width))
        lean = float(rng.uniform(-0.35, 0.35)) * height
        green = tuple(int(c) for c in np.clip(base_green + rng.integers(-25, 25, size=3), 0, 255))
        draw.line([(x, height), (x + lean, 0)], fill=green, width=int(rng.integers(width // 14, width // 7)))
    return image


def _draw_lesions(
    image: Image.Image, rng: np.random.Generator, colour: tuple[int, int, int], shape: str
) -> None:
    width, height = image.size
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(5, 10))):
        jitter = rng.integers(-20, 20, size=3)
        fill = tuple(int(c) for c in np.clip(np.array(colour) + jitter, 0, 255))
        x, y = float(rng.uniform(0, width)), float(rng.uniform(0, height))
        r = float(rng.uniform(0.05, 0.10)) * width
        if shape == "streak":
            draw.rectangle([x - r / 3, y - 3 * r, x + r / 3, y + 3 * r], fill=fill)
        elif shape == "dot":
            draw.ellipse([x - r / 2, y - r / 2, x + r / 2, y + r / 2], fill=fill)
        elif shape == "diamond":
            draw.polygon([(x, y - 1.6 * r), (x + r, y), (x, y + 1.6 * r), (x - r, y)], fill=fill)
        else:  # blob
            draw.ellipse([x - 1.4 * r, y - r, x + 1.4 * r, y + r], fill=fill)


def sample_image(label: str, rng: np.random.Generator, width: int, height: int) -> Image.Image:
    colour, shape = _LESIONS[label]
    image = _draw_leaves(rng, width, height, healthy=label == "normal")
    if shape != "none":
        _draw_lesions(image, rng, colour, shape)
    brightness = float(rng.uniform(0.8, 1.2))
    image = Image.eval(image, lambda v: min(255, int(v * brightness)))
    return image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0, 0.8))))


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _csv(rows: list[list[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


def write_sample_zip(params: SampleParams, zip_path: Path) -> int:
    """Write a competition-shaped zip; return the number of training images."""
    rng = np.random.default_rng(params.seed)
    train_rows: list[list[object]] = [["image_id", "label", "variety", "age"]]
    # A fixed date_time keeps the zip's bytes identical for the same seed.
    stamp = (2026, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as archive:
        counter = 100000
        for label in PADDY_LABELS:
            for _ in range(params.images_per_class):
                image_id = f"{counter}.jpg"
                counter += 1
                image = sample_image(label, rng, params.width, params.height)
                archive.writestr(zipfile.ZipInfo(f"train_images/{label}/{image_id}", stamp), _jpeg(image))
                train_rows.append([image_id, label, str(rng.choice(VARIETIES)), int(rng.integers(45, 83))])
        submission: list[list[object]] = [["image_id", "label"]]
        for index in range(params.test_images):
            image_id = f"{200000 + index}.jpg"
            label = PADDY_LABELS[int(rng.integers(len(PADDY_LABELS)))]
            image = sample_image(label, rng, params.width, params.height)
            archive.writestr(zipfile.ZipInfo(f"test_images/{image_id}", stamp), _jpeg(image))
            submission.append([image_id, ""])
        archive.writestr(zipfile.ZipInfo("train.csv", stamp), _csv(train_rows))
        archive.writestr(zipfile.ZipInfo("sample_submission.csv", stamp), _csv(submission))
    return len(train_rows) - 1
