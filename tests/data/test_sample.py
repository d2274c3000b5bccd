"""The offline sample data: the Kaggle layout exactly, and the same bytes for the same seed."""

from __future__ import annotations

import csv
import hashlib
import zipfile
from pathlib import Path

from PIL import Image

from paddy_edge.config import SampleParams
from paddy_edge.data.archive import extract_zip
from paddy_edge.data.labels import PADDY_LABELS
from paddy_edge.data.sample import write_sample_zip


def test_sample_zip_has_the_kaggle_layout(tmp_path: Path, tiny_sample: SampleParams) -> None:
    archive = tmp_path / "sample.zip"
    assert write_sample_zip(tiny_sample, archive) == 60
    raw = tmp_path / "raw"
    raw.mkdir()
    extract_zip(archive, raw)

    rows = list(csv.DictReader((raw / "train.csv").open()))
    assert list(rows[0]) == ["image_id", "label", "variety", "age"]
    assert sorted({r["label"] for r in rows}) == sorted(PADDY_LABELS)
    assert all(45 <= int(r["age"]) <= 82 and r["variety"] for r in rows)
    for row in rows:
        image_path = raw / "train_images" / row["label"] / row["image_id"]
        with Image.open(image_path) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (48, 64))
    assert len(list((raw / "test_images").glob("*.jpg"))) == 3
    submission = list(csv.DictReader((raw / "sample_submission.csv").open()))
    assert [r["image_id"] for r in submission] == sorted(p.name for p in (raw / "test_images").iterdir())


def _digest(params: SampleParams, path: Path) -> str:
    write_sample_zip(params, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_images(tmp_path: Path, tiny_sample: SampleParams) -> None:
    first = _digest(tiny_sample, tmp_path / "a.zip")
    again = _digest(tiny_sample, tmp_path / "b.zip")
    other = _digest(tiny_sample.model_copy(update={"seed": 8}), tmp_path / "c.zip")
    assert first == again
    assert first != other


def test_classes_differ_in_colour(tmp_path: Path, tiny_sample: SampleParams) -> None:
    """The sample must be learnable: the mean colour of each class is distinct."""
    archive = tmp_path / "sample.zip"
    write_sample_zip(tiny_sample.model_copy(update={"images_per_class": 10}), archive)
    means = {}
    with zipfile.ZipFile(archive) as opened:
        for label in PADDY_LABELS:
            names = [n for n in opened.namelist() if n.startswith(f"train_images/{label}/")]
            pixels = [list(Image.open(opened.open(n)).resize((1, 1)).getpixel((0, 0))) for n in names]
            means[label] = [sum(channel) / len(pixels) for channel in zip(*pixels, strict=True)]
    distances = [
        sum((a - b) ** 2 for a, b in zip(means[x], means[y], strict=True)) ** 0.5
        for i, x in enumerate(PADDY_LABELS)
        for y in PADDY_LABELS[i + 1 :]
    ]
    assert min(distances) > 1.0
