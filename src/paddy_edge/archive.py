"""The competition zip: verify it, extract it without letting an entry escape, check the Kaggle layout."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath

from paddy_edge.errors import UserError

REQUIRED_ENTRIES = ("train.csv", "train_images/")
TRAIN_CSV_COLUMNS = ("image_id", "label", "variety", "age")


def _unsafe_reason(name: str) -> str | None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (path.parts and path.parts[0].endswith(":")):
        return "absolute path"
    if ".." in path.parts:
        return "'..' in path"
    return None


def verify_zip(zip_path: Path) -> list[str]:
    """Open the archive, check every CRC and that it looks like the competition; return its entries."""
    if not zip_path.is_file():
        raise UserError(f"{zip_path} does not exist: check data.zip_path in params.yaml")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            broken = archive.testzip()
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UserError(f"{zip_path} is not a readable zip ({exc}): download it again") from None
    if broken is not None:
        raise UserError(f"{zip_path} is damaged (bad CRC in {broken}): download it again")
    for name in names:
        reason = _unsafe_reason(name)
        if reason:
            raise UserError(f"{zip_path} has an unsafe entry {name!r} ({reason}); refusing to extract it")
    prefix = _common_prefix(names)
    for required in REQUIRED_ENTRIES:
        if not any(n.startswith(prefix + required) for n in names):
            raise UserError(
                f"{zip_path} has no {required}: it is not the paddy-disease-classification zip "
                "(expected train.csv, train_images/<label>/*.jpg, test_images/, sample_submission.csv)"
            )
    return names


def _common_prefix(names: list[str]) -> str:
    """Some hand-made zips wrap everything in one folder; Kaggle's does not. Accept both."""
    if any(n == "train.csv" for n in names):
        return ""
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    if len(tops) == 1:
        top = tops.pop()
        if f"{top}/train.csv" in names:
            return f"{top}/"
    return ""


def extract_zip(zip_path: Path, dest: Path) -> None:
    """Extract a verified zip into `dest` (which must be empty), flattening a single wrapping folder."""
    names = verify_zip(zip_path)
    prefix = _common_prefix(names)
    root = dest.resolve()
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(prefix) or info.filename == prefix:
                continue
            relative = info.filename[len(prefix) :]
            target = (root / relative).resolve()
            if not target.is_relative_to(root):
                raise UserError(f"{zip_path}: entry {info.filename!r} would land outside {dest}; refusing")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, length=1 << 20)
    check_layout(dest)


def check_layout(root: Path) -> None:
    csv = root / "train.csv"
    if not csv.is_file():
        raise UserError(f"{csv} is missing: the data is not in the Kaggle layout")
    with csv.open() as handle:
        header = handle.readline().strip().split(",")
    missing = [c for c in TRAIN_CSV_COLUMNS if c not in header]
    if missing:
        raise UserError(
            f"{csv} lacks the column(s) {', '.join(missing)} (expected {','.join(TRAIN_CSV_COLUMNS)})"
        )
    if not (root / "train_images").is_dir():
        raise UserError(f"{root / 'train_images'} is missing: the data is not in the Kaggle layout")
