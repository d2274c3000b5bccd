"""Bad photos, bad data layouts and a bad exported model against the real prepare, evaluate and predict:
each bad file is a reported skip, each bad setting or bundle one clear message, and a phone photo's
EXIF orientation is applied exactly as the app's decoder applies it. Every file here is made with PIL
(or by corrupting one PIL wrote), on disk, and read by the pipeline's own functions and CLI."""

from __future__ import annotations

import csv
import io
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile

from paddy_edge.config import PrepareParams
from paddy_edge.data.archive import extract_zip
from paddy_edge.data.labels import PADDY_LABELS
from paddy_edge.data.sample import write_sample_zip
from paddy_edge.errors import UserError
from paddy_edge.phone.preprocess import app_input, load_app_input
from paddy_edge.predict import classify
from paddy_edge.stages import evaluate
from paddy_edge.stages.prepare import prepare

from ..helpers import ROOT
from ..helpers.cli import cli

PARAMS = PrepareParams(valid_pct=0.25, seed=1, max_side=40, min_side=16, max_skipped_pct=50.0, workers=2)
CARD_INPUT = {"width": 24, "height": 16, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


# --- files ----------------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height RGB pixels, followed by a few bytes of pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\x7f" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A complete 16x16 JPEG whose frame header (SOF0) is rewritten to declare width x height."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 160, 60)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def photo(size: tuple[int, int] = (48, 64), fmt: str = "JPEG", orientation: int | None = None) -> bytes:
    """Four flat quadrants of different colours (red, green, blue, white from the top left, clockwise):
    any turn or flip moves them. With `orientation`, the file carries that EXIF Orientation tag."""
    width, height = size
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[: height // 2, : width // 2] = (220, 30, 30)
    pixels[: height // 2, width // 2 :] = (30, 200, 30)
    pixels[height // 2 :, width // 2 :] = (30, 30, 220)
    pixels[height // 2 :, : width // 2] = (240, 240, 240)
    extra = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        extra["exif"] = exif
    if fmt == "JPEG":
        extra |= {"quality": 100, "subsampling": 0}
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **extra)
    return buffer.getvalue()


def truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


def dart_image_decode(stored: np.ndarray, orientation: int) -> np.ndarray:
    """What the Dart `image` package (4.x) makes of a JPEG's pixels with this EXIF orientation,
    transcribed from getImageFromJpeg in lib/src/formats/jpeg/_jpeg_quantize_io.dart: source pixel
    (x, y) is set at the (column, row) below; 5 to 8 swap width and height."""
    h, w = stored.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    w1, h1 = w - 1, h - 1
    target = {
        2: (w1 - x, y),
        3: (w1 - x, h1 - y),
        4: (x, h1 - y),
        5: (y, x),
        6: (h1 - y, x),
        7: (h1 - y, w1 - x),
        8: (y, w1 - x),
    }.get(orientation, (x, y))
    out = np.zeros((w, h, 3) if 5 <= orientation <= 8 else (h, w, 3), np.uint8)
    out[target[1], target[0]] = stored[y, x]
    return out


def stored_pixels(path: Path) -> np.ndarray:
    """The pixels as stored in the file, orientation ignored."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


# --- data -----------------------------------------------------------------------------------------------


@pytest.fixture
def raw(tmp_path: Path, tiny_sample, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample dataset (6 photos in each of the 10 classes) in the Kaggle layout; cwd is tmp_path,
    where prepare writes its report."""
    monkeypatch.chdir(tmp_path)
    archive = tmp_path / "sample.zip"
    write_sample_zip(tiny_sample, archive)
    extract_zip(archive, tmp_path / "raw")
    return tmp_path / "raw"


def plant(raw: Path, label: str, name: str, data: bytes, csv_label: str | None = None) -> Path:
    folder = raw / "train_images" / label
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    with (raw / "train.csv").open("a", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow([name, csv_label or label, "ADT45", 50])
    return folder / name


def skipped_reasons(prepared: Path) -> dict[str, str]:
    return pd.read_csv(prepared / "skipped.csv").set_index("file")["reason"].to_dict()


# --- 1. decompression bombs and truncated files ------------------------------------------------------


def test_bombs_and_truncated_files_are_reported_skips_and_prepare_finishes(
    raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    plant(raw, "blast", "800001.png", png_claiming(30000, 30000))  # PIL: DecompressionBombError
    plant(raw, "hispa", "800002.jpg", jpeg_claiming(30000, 30000))
    plant(raw, "tungro", "800003.jpg", jpeg_claiming(12000, 12000))  # PIL only warns; was a grey image
    plant(raw, "normal", "800004.png", png_claiming(10000, 10000))  # PIL only warns
    plant(raw, "brown_spot", "800005.png", truncated(photo(fmt="PNG")))
    plant(raw, "brown_spot", "800006.jpg", truncated(photo()))

    report = prepare(PARAMS, raw=raw, out=tmp_path / "prepared")

    reasons = skipped_reasons(tmp_path / "prepared")
    for name, label in (("800001.png", "blast"), ("800002.jpg", "hispa"), ("800003.jpg", "tungro")):
        assert reasons[f"train_images/{label}/{name}"].startswith("too many pixels"), name
    assert "decompression bomb" in reasons["train_images/normal/800004.png"]
    assert reasons["train_images/brown_spot/800005.png"].startswith("cannot decode")
    assert reasons["train_images/brown_spot/800006.jpg"].startswith("cannot decode")
    assert report["images"] == 60 and report["skipped"] == 6
    manifest = pd.read_csv(tmp_path / "prepared/manifest.csv")
    assert not manifest["source"].str.contains("8000").any()  # no grey stand-in for any of them
    printed = capsys.readouterr().out
    assert "800003.jpg: too many pixels" in printed and "2 cannot decode" in printed


def test_predict_answers_every_readable_photo_and_names_each_bad_one(tmp_path: Path, tiny_bundle) -> None:
    files = {
        "good.jpg": photo(),
        "bomb.png": png_claiming(30000, 30000),
        "bomb.jpg": jpeg_claiming(30000, 30000),
        "big.jpg": jpeg_claiming(12000, 12000),
        "cut.png": truncated(photo(fmt="PNG")),
        "notes.jpg": b"not a photo\n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    images = [tmp_path / name for name in files] + [tmp_path / "missing.jpg"]

    answers = classify(images, tiny_bundle, k=3)

    good = answers[tmp_path / "good.jpg"]
    assert len(good) == 3 and {label for label, _ in good} <= set(PADDY_LABELS)
    for name in ("bomb.png", "bomb.jpg", "big.jpg"):
        assert answers[tmp_path / name].startswith("too many pixels"), name
    assert answers[tmp_path / "cut.png"].startswith("cannot decode")
    assert answers[tmp_path / "notes.jpg"] == "not an image"
    assert answers[tmp_path / "missing.jpg"] == "no such file"


def test_evaluate_skips_an_unreadable_validation_photo_and_says_which(
    tmp_path: Path, tiny_bundle, capsys: pytest.CaptureFixture
) -> None:
    raw = tmp_path / "raw"
    (raw / "train_images/blast").mkdir(parents=True)
    (raw / "train_images/blast/1.jpg").write_bytes(photo())
    (raw / "train_images/blast/2.png").write_bytes(png_claiming(30000, 30000))
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(
        {
            "image": ["images/blast/1.jpg", "images/blast/2.jpg"],
            "source": ["train_images/blast/1.jpg", "train_images/blast/2.png"],
            "label": ["blast", "blast"],
            "split": ["valid", "valid"],
        }
    ).to_csv(manifest, index=False)
    card = json.loads((tiny_bundle / "model_card.json").read_text())

    inputs, truth, sources, skipped = evaluate.validation_inputs(card, manifest, raw)

    assert inputs.shape[0] == 1 and sources == ["train_images/blast/1.jpg"]
    assert truth.tolist() == [card["labels"].index("blast")]
    assert list(skipped) == ["train_images/blast/2.png"] and skipped["train_images/blast/2.png"].startswith(
        "too many pixels"
    )
    assert "train_images/blast/2.png: too many pixels" in capsys.readouterr().out


def test_the_shared_loader_gives_one_clear_reason(tmp_path: Path) -> None:
    from paddy_edge.phone.images import UnreadableImage

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(30000, 30000))
    with pytest.raises(UnreadableImage, match=r"too many pixels \(header declares 900,000,000"):
        load_app_input(bomb, CARD_INPUT)


# --- 2. EXIF orientation: as the app's decoder (the Dart `image` package) applies it ------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_jpeg_is_fed_as_the_apps_decoder_orients_it(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / "phone.jpg"
    path.write_bytes(photo(orientation=orientation))
    upright = dart_image_decode(stored_pixels(path), orientation)

    fed = load_app_input(path, CARD_INPUT)  # what evaluate and predict feed the model

    expected = app_input(
        Image.fromarray(upright),
        **{k: CARD_INPUT[k] for k in ("width", "height")},
        mean=CARD_INPUT["mean"],
        std=CARD_INPUT["std"],
    )
    assert np.array_equal(fed, expected)


def test_prepare_writes_a_portrait_phone_photo_upright(raw: Path, tmp_path: Path) -> None:
    """Orientation 6 (the phone held upright): stored 48 wide and 32 high, shown 32 wide and 48 high
    (27 x 40 once shrunk to max_side 40), the stored top-left red quadrant at the top right."""
    plant(raw, "blast", "700001.jpg", photo(size=(48, 32), orientation=6))
    prepare(PARAMS, raw=raw, out=tmp_path / "prepared")
    with Image.open(tmp_path / "prepared/images/blast/700001.jpg") as image:
        assert image.size == (27, 40)
        top_right = np.asarray(image.convert("RGB"))[3:17, 17:25].mean(axis=(0, 1))
    assert top_right[0] > 180 and top_right[1] < 80 and top_right[2] < 80  # red


def test_a_png_s_exif_orientation_is_ignored_as_the_app_ignores_it(tmp_path: Path) -> None:
    path = tmp_path / "screenshot.png"
    path.write_bytes(photo(fmt="PNG", orientation=6))
    with Image.open(path) as image:
        assert image.getexif().get(0x0112) == 6  # the tag is there; the app's PNG decoder does not read it
    fed = load_app_input(path, CARD_INPUT)
    expected = app_input(Image.fromarray(stored_pixels(path)), 24, 16, CARD_INPUT["mean"], CARD_INPUT["std"])
    assert np.array_equal(fed, expected)


# --- 3. the cause of an empty class ---------------------------------------------------------------------


def test_an_empty_class_names_the_csv_folder_mismatch_with_counts_and_an_example(
    raw: Path, tmp_path: Path
) -> None:
    table = pd.read_csv(raw / "train.csv", dtype=str)
    renamed = table["label"] == "dead_heart"
    table.loc[renamed, "image_id"] = "x" + table.loc[renamed, "image_id"]  # a train.csv of another release
    table.to_csv(raw / "train.csv", index=False)
    example = sorted((raw / "train_images/dead_heart").iterdir())[0].name

    with pytest.raises(UserError) as error:
        prepare(PARAMS, raw=raw, out=tmp_path / "prepared")

    message = str(error.value)
    assert "dead_heart" in message and "6 not listed in train.csv" in message
    assert f"train_images/dead_heart/{example}" in message
    assert "edit train.csv" not in message and not (tmp_path / "prepared").exists()


def test_too_many_skips_give_counts_per_reason_with_an_example(raw: Path, tmp_path: Path) -> None:
    for i in range(4):
        plant(raw, "blast", f"60000{i}.jpg", b"")
    plant(raw, "hispa", "600009.jpg", photo(), csv_label="tungro")
    strict = PARAMS.model_copy(update={"max_skipped_pct": 5.0})
    with pytest.raises(UserError) as error:
        prepare(strict, raw=raw, out=tmp_path / "prepared")
    message = str(error.value)
    assert "prepare.max_skipped_pct=5.0" in message
    assert "4 empty file (e.g. train_images/blast/600000.jpg)" in message
    assert "1 train.csv label differs from the folder (e.g. train_images/hispa/600009.jpg" in message


# --- 4. a label outside the competition's 10 ---------------------------------------------------------


def test_an_eleventh_label_fails_naming_it_and_its_folder(raw: Path, tmp_path: Path) -> None:
    for i in range(5):
        plant(raw, "rice_hispa", f"50000{i}.jpg", photo())
    with pytest.raises(UserError) as error:
        prepare(PARAMS, raw=raw, out=tmp_path / "prepared")
    message = str(error.value)
    assert "rice_hispa" in message and str(raw / "train_images" / "rice_hispa") in message
    assert "prepare.allow_new_labels" in message and not (tmp_path / "prepared").exists()


def test_an_eleventh_label_is_a_recorded_warning_when_allowed(
    raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for i in range(5):
        plant(raw, "rice_hispa", f"50000{i}.jpg", photo())
    allowed = PARAMS.model_copy(update={"allow_new_labels": True})
    report = prepare(allowed, raw=raw, out=tmp_path / "prepared")
    assert report["classes"] == 11 and report["extra_labels"] == ["rice_hispa"]
    assert json.loads((tmp_path / "reports/data_report.json").read_text())["extra_labels"] == ["rice_hispa"]
    assert "rice_hispa" in capsys.readouterr().out


# --- 5. a valid_pct the data cannot split by ------------------------------------------------------------


@pytest.mark.parametrize("valid_pct", [0.05, 0.95])
def test_a_valid_pct_outside_the_usable_range_names_the_key_and_the_range(
    raw: Path, tmp_path: Path, valid_pct: float
) -> None:
    bad = PARAMS.model_copy(update={"valid_pct": valid_pct})
    # 60 images in 10 classes: each split needs at least 10 images.
    with pytest.raises(UserError, match=r"prepare\.valid_pct=0\.\d+ .*between 0\.167 and 0\.833"):
        prepare(bad, raw=raw, out=tmp_path / "prepared")


def test_the_edges_of_the_stated_range_split(raw: Path, tmp_path: Path) -> None:
    for valid_pct, folder in ((0.167, "low"), (0.833, "high")):
        prepare(PARAMS.model_copy(update={"valid_pct": valid_pct}), raw=raw, out=tmp_path / folder)


# --- 6. a bad exported bundle ------------------------------------------------------------------------


@pytest.fixture
def bundle(tmp_path: Path, tiny_bundle: Path) -> Path:
    copy = tmp_path / "export"
    shutil.copytree(tiny_bundle, copy)
    (tmp_path / "good.jpg").write_bytes(photo())
    return copy


@pytest.mark.parametrize("damage", ["truncated", "random bytes"])
def test_a_corrupt_phone_program_is_one_message_naming_the_file(
    bundle: Path, tmp_path: Path, damage: str
) -> None:
    model = bundle / "model.pte"
    data = model.read_bytes()
    model.write_bytes(
        data[: len(data) // 2] if damage == "truncated" else np.random.default_rng(1).bytes(4096)
    )
    with pytest.raises(UserError, match=r"model\.pte .*dvc repro export"):
        classify([tmp_path / "good.jpg"], bundle, k=3)


def test_predict_cli_says_so_without_a_traceback(bundle: Path, tmp_path: Path) -> None:
    (bundle / "model.pte").write_bytes(b"\x00" * 100)
    result = cli("predict", str(tmp_path / "good.jpg"), "--model-dir", str(bundle), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())  # rich wraps at the terminal's width
    assert "model.pte" in message and "dvc repro export" in message
    assert "Traceback" not in message


def test_predict_warns_that_the_placeholder_model_knows_nothing(bundle: Path, tmp_path: Path) -> None:
    """The app's committed placeholder answers, but with a warning; a trained bundle gets none."""
    placeholder = ROOT / "flutter_app/assets/models"
    warned = cli("predict", str(tmp_path / "good.jpg"), "--model-dir", str(placeholder), cwd=tmp_path)
    assert warned.returncode == 0, warned.stderr
    assert "good.jpg" in warned.stdout and "%" in warned.stdout
    message = " ".join(warned.stderr.split())
    assert "warning:" in message and "untrained placeholder" in message and "dvc repro" in message
    trained = cli("predict", str(tmp_path / "good.jpg"), "--model-dir", str(bundle), cwd=tmp_path)
    assert trained.returncode == 0 and "placeholder" not in trained.stderr, trained.stderr


def test_a_card_with_the_wrong_label_count_is_named_in_predict(bundle: Path, tmp_path: Path) -> None:
    card = json.loads((bundle / "model_card.json").read_text())
    card["labels"], card["num_classes"] = card["labels"][:9], 9
    (bundle / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(UserError, match=r"model_card\.json lists 9 labels .* 10 outputs"):
        classify([tmp_path / "good.jpg"], bundle, k=3)


def test_a_card_with_the_wrong_label_count_is_named_in_evaluate(bundle: Path) -> None:
    card = json.loads((bundle / "model_card.json").read_text())
    card["labels"] = [*card["labels"], "extra"]
    from paddy_edge.formats import runner

    probs = {"lite": runner("lite", file=bundle / "model.ptl")(np.zeros((2, 3, 32, 32), np.float32))}
    with pytest.raises(UserError, match=r"model_card\.json lists 11 labels .* 10 outputs"):
        evaluate.check_outputs(card, probs)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda card: {}, "'labels'"),
        (lambda card: [card], "holds a list"),
        (lambda card: card | {"input": card["input"] | {"height": "96"}}, "'input.height'"),
        (lambda card: card | {"num_classes": 11}, "'num_classes' is 11"),
    ],
    ids=["empty", "a list", "height as text", "class count"],
)
def test_a_card_of_the_wrong_shape_is_one_message_naming_the_key(
    bundle: Path, tmp_path: Path, change, named: str
) -> None:
    card = json.loads((bundle / "model_card.json").read_text())
    (bundle / "model_card.json").write_text(json.dumps(change(card)))
    result = cli("predict", str(tmp_path / "good.jpg"), "--model-dir", str(bundle), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr and "not a model card this pipeline wrote" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("fmt", ["lite", "onnx"])
def test_a_damaged_export_is_one_message_for_every_runner(bundle: Path, fmt: str) -> None:
    from paddy_edge.formats import REGISTRY, runner

    damaged = bundle / REGISTRY[fmt].file.name
    damaged.write_bytes(np.random.default_rng(2).bytes(2048))
    with pytest.raises(UserError, match=rf"{damaged.name} cannot be loaded as the {fmt} format"):
        runner(fmt, file=damaged)


def test_train_csv_rows_without_a_file_and_repeated_ids_are_reported(
    raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    table = pd.read_csv(raw / "train.csv", dtype=str)
    first, second = table.iloc[0], table.iloc[1]
    other = "tungro" if second["label"] != "tungro" else "blast"
    extra = pd.DataFrame(
        [
            {**first.to_dict(), "image_id": "999999.jpg"},  # no such file
            {**first.to_dict()},  # the same row twice
            {**second.to_dict(), "label": other},  # the same photo, another label
        ]
    )
    pd.concat([table, extra]).to_csv(raw / "train.csv", index=False)

    prepare(PARAMS, raw=raw, out=tmp_path / "prepared")

    warnings = " ".join(capsys.readouterr().err.split())
    assert "1 image_id(s) with no file under train_images/<label>/ (e.g. 999999.jpg)" in warnings
    assert "2 image_id(s) listed twice" in warnings
    manifest = pd.read_csv(tmp_path / "prepared" / "manifest.csv")
    assert not manifest["source"].str.endswith("/" + second["image_id"]).any()
