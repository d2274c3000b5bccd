"""The competition zip: verify it, extract it without letting an entry escape, check the Kaggle layout."""

from __future__ import annotations

import io
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from paddy_edge.errors import UserError

REQUIRED_ENTRIES = ("train.csv", "train_images/")
TRAIN_CSV_COLUMNS = ("image_id", "label", "variety", "age")


@dataclass(frozen=True)
class ZipLimits:
    """How far a zip may expand (params data.max_unzipped_mb and data.max_zip_ratio)."""

    max_unzipped_mb: float = 5000.0
    max_ratio: float = 50.0

    def check(self, zip_path: Path, infos: list[zipfile.ZipInfo]) -> None:
        """From the headers, before anything is decompressed (zipfile never reads past an entry's
        declared size, so a header cannot lie its way past this)."""
        total = sum(info.file_size for info in infos)
        if total > self.max_unzipped_mb * 1e6:
            raise UserError(
                f"{zip_path} would expand to {total / 1e6:,.0f} MB, more than data.max_unzipped_mb="
                f"{self.max_unzipped_mb:g}: if it really is your dataset, raise that key in params.yaml"
            )
        ratio = total / max(zip_path.stat().st_size, 1)
        if ratio > self.max_ratio:
            raise UserError(
                f"{zip_path} would expand {ratio:,.0f}x (a zip bomb?), more than data.max_zip_ratio="
                f"{self.max_ratio:g} (photos barely compress): if you trust it, raise that key in params.yaml"
            )


def _unsafe_reason(name: str) -> str | None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (path.parts and path.parts[0].endswith(":")):
        return "absolute path"
    if ".." in path.parts:
        return "'..' in path"
    return None


def verify_zip(zip_path: Path, limits: ZipLimits | None = None) -> list[str]:
    """Open the archive, check its size, every CRC and that it looks like the competition; return its
    entries."""
    if not zip_path.is_file():
        raise UserError(f"{zip_path} does not exist: check data.zip_path in params.yaml")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            (limits or ZipLimits()).check(zip_path, archive.infolist())
            broken = archive.testzip()
            names = archive.namelist()
            csv_name = _common_prefix(names) + "train.csv"
            header = _first_line(archive, csv_name) if csv_name in names else None
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
    if header is not None:
        check_columns(header, f"{zip_path}: its {csv_name}")
    return names


def _first_line(archive: zipfile.ZipFile, name: str) -> str:
    with archive.open(name) as member:
        return io.TextIOWrapper(member, encoding="utf-8", errors="replace").readline()


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


def extract_zip(zip_path: Path, dest: Path, limits: ZipLimits | None = None) -> None:
    """Extract a verified zip into `dest` (which must be empty), flattening a single wrapping folder."""
    names = verify_zip(zip_path, limits)
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
        check_columns(handle.readline(), str(csv))
    if not (root / "train_images").is_dir():
        raise UserError(f"{root / 'train_images'} is missing: the data is not in the Kaggle layout")


def check_columns(header: str, where: str) -> None:
    columns = header.strip().lstrip("\ufeff").split(",")
    missing = [c for c in TRAIN_CSV_COLUMNS if c not in columns]
    if missing:
        raise UserError(
            f"{where} lacks the column(s) {', '.join(missing)} (expected {','.join(TRAIN_CSV_COLUMNS)})"
        )
