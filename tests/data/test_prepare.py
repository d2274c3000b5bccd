"""prepare on a dataset with planted bad files: they are skipped and reported, never crash the stage."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from paddy_edge.config import PrepareParams
from paddy_edge.data.archive import extract_zip
from paddy_edge.data.labels import PADDY_LABELS
from paddy_edge.data.sample import write_sample_zip
from paddy_edge.errors import UserError
from paddy_edge.stages.prepare import prepare

PARAMS = PrepareParams(valid_pct=0.25, seed=1, max_side=40, min_side=16, max_skipped_pct=20.0, workers=2)


def _jpeg(mode: str, size: tuple[int, int] = (48, 64), color: int | tuple = 100) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def raw(tmp_path: Path, tiny_sample) -> Path:
    archive = tmp_path / "sample.zip"
    write_sample_zip(tiny_sample, archive)
    root = tmp_path / "raw"
    root.mkdir()
    extract_zip(archive, root)
    return root


def plant(raw: Path, label: str, name: str, data: bytes, csv_label: str | None = None) -> None:
    (raw / "train_images" / label / name).write_bytes(data)
    with (raw / "train.csv").open("a", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow([name, csv_label or label, "ADT45", 50])


@pytest.fixture
def planted(raw: Path) -> Path:
    good = _jpeg("RGB", color=(90, 160, 60))
    plant(raw, "blast", "900001.jpg", b"")  # zero bytes
    plant(raw, "blast", "900002.jpg", good[: len(good) // 2])  # truncated JPEG
    plant(raw, "blast", "900003.jpg", b"this is a text file, not a photo\n")
    plant(raw, "hispa", "900004.jpg", _jpeg("CMYK", color=(10, 200, 30, 0)))
    plant(raw, "hispa", "900005.jpg", _jpeg("L"))
    png = io.BytesIO()
    Image.new("RGBA", (48, 64), (0, 100, 0, 255)).save(png, format="PNG")
    plant(raw, "tungro", "900006.png", png.getvalue())
    plant(raw, "brown_spot", "900007.jpg", good, csv_label="blast")  # folder and train.csv disagree
    plant(raw, "normal", "900008.jpg", _jpeg("RGB", size=(10, 12)))  # tiny
    return raw


def test_bad_files_are_skipped_with_reasons_and_good_ones_converted(
    planted: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    report = prepare(PARAMS, raw=planted, out=tmp_path / "prepared")
    skipped = pd.read_csv(tmp_path / "prepared/skipped.csv").set_index("file")["reason"].to_dict()
    assert skipped["train_images/blast/900001.jpg"] == "empty file"
    assert skipped["train_images/blast/900002.jpg"].startswith("cannot decode")
    assert skipped["train_images/blast/900003.jpg"] == "not an image"
    assert skipped["train_images/brown_spot/900007.jpg"] == "train.csv says 'blast', folder says 'brown_spot'"
    assert skipped["train_images/normal/900008.jpg"].startswith("too small")
    assert len(skipped) == 5
    assert report["images"] == 60 + 3 and report["skipped"] == 5 and report["converted"] == 3

    manifest = pd.read_csv(tmp_path / "prepared/manifest.csv")
    assert set(manifest.columns) == {"image", "source", "label", "split"}
    for name in ("900004", "900005", "900006"):
        row = manifest[manifest.source.str.contains(name)].iloc[0]
        with Image.open(tmp_path / "prepared" / row.image) as image:
            assert image.mode == "RGB" and image.format == "JPEG" and max(image.size) <= 40
    assert json.loads((tmp_path / "reports/data_report.json").read_text()) == report


def test_split_is_stratified_and_repeatable(raw: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    prepare(PARAMS, raw=raw, out=tmp_path / "a")
    prepare(PARAMS, raw=raw, out=tmp_path / "b")
    first = pd.read_csv(tmp_path / "a/manifest.csv")
    assert first.equals(pd.read_csv(tmp_path / "b/manifest.csv"))
    per_class = first.groupby(["label", "split"]).size().unstack()
    assert (per_class["valid"] >= 1).all() and (per_class["train"] >= 3).all()
    labels = (tmp_path / "a/labels.txt").read_text()
    assert labels.split("\n") == sorted(PADDY_LABELS) and not labels.endswith("\n")


def test_an_empty_class_folder_fails_with_its_name(raw: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for image in (raw / "train_images/dead_heart").iterdir():
        image.unlink()
    with pytest.raises(UserError, match="dead_heart have no usable images"):
        prepare(PARAMS, raw=raw, out=tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_too_many_skipped_files_fail_the_stage(planted: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    strict = PARAMS.model_copy(update={"max_skipped_pct": 2.0})
    with pytest.raises(UserError, match=r"5 of 68 files \(7.4%\).*max_skipped_pct=2.0"):
        prepare(strict, raw=planted, out=tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_data_not_in_the_kaggle_layout_is_named(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    with pytest.raises(UserError, match=r"raw/train.csv is missing"):
        prepare(PARAMS, raw=tmp_path / "raw", out=tmp_path / "prepared")


def test_a_full_size_photo_is_decoded_at_reduced_scale_and_keeps_its_aspect(tmp_path: Path) -> None:
    from paddy_edge.stages.prepare import resize_copy

    source = tmp_path / "photo.jpg"
    Image.new("RGB", (480, 640), (40, 160, 60)).save(source, format="JPEG")
    target = tmp_path / "out.jpg"
    assert resize_copy(source, target, max_side=320, min_side=32) is None
    with Image.open(target) as image:
        assert image.size == (240, 320)
