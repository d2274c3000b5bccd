"""Stage prepare: check every image in the Kaggle layout, cross-check it with train.csv, write pre-resized
copies, a stratified train/valid split (manifest.csv), labels.txt and a data report.

Bad files are skipped and reported; a class left empty, or too many skipped files, fails the stage."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError
from rich.console import Console
from rich.progress import track
from rich.table import Table
from sklearn.model_selection import train_test_split

from paddy_edge import paths
from paddy_edge.archive import check_layout
from paddy_edge.config import Params, PrepareParams
from paddy_edge.errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass(frozen=True)
class Candidate:
    source: Path
    label: str
    image_id: str


@dataclass(frozen=True)
class Outcome:
    candidate: Candidate
    problem: str | None = None  # why the file was skipped
    note: str | None = None  # a conversion worth reporting (CMYK, grayscale, PNG, ...)


def resize_copy(source: Path, target: Path, max_side: int, min_side: int) -> str | None:
    """Decode (at reduced scale where JPEG allows), convert to RGB, shrink to max_side, save as JPEG.
    Return a note about a conversion, or raise ValueError saying why the file is unusable."""
    if source.stat().st_size == 0:
        raise ValueError("empty file")
    try:
        with Image.open(source) as image:
            original_mode, original_format = image.mode, image.format
            width, height = image.size
            if min(width, height) < min_side:
                raise ValueError(f"too small ({width}x{height} < {min_side} px)")
            scale = max_side / max(width, height)
            if scale < 1:
                image.draft("RGB", (int(width * scale), int(height * scale)))
            rgb = image.convert("RGB")
            rgb.load()
    except UnidentifiedImageError:
        raise ValueError("not an image") from None
    except OSError as exc:
        raise ValueError(f"cannot decode ({exc})") from None
    rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    target.parent.mkdir(parents=True, exist_ok=True)
    rgb.save(target, format="JPEG", quality=92)
    notes = []
    if original_mode != "RGB":
        notes.append(f"converted from {original_mode}")
    if original_format != "JPEG":
        notes.append(f"{original_format} file")
    return ", ".join(notes) or None


def find_candidates(raw: Path) -> tuple[list[Candidate], list[Outcome], list[str]]:
    """Pair files under train_images/<label>/ with train.csv rows. Return usable candidates, files skipped
    for disagreeing with train.csv, and every label seen (folders and csv)."""
    check_layout(raw)
    table = pd.read_csv(raw / "train.csv", dtype=str)
    csv_label = dict(zip(table["image_id"], table["label"], strict=True))
    folders = sorted(p for p in (raw / "train_images").iterdir() if p.is_dir())
    labels = sorted({p.name for p in folders} | set(table["label"].dropna()))
    candidates, skipped = [], []
    for folder in folders:
        for source in sorted(p for p in folder.iterdir() if p.is_file()):
            candidate = Candidate(source, folder.name, source.name)
            expected = csv_label.get(source.name)
            if source.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append(Outcome(candidate, f"not an image file name ({source.suffix or 'no suffix'})"))
            elif expected is None:
                skipped.append(Outcome(candidate, "not listed in train.csv"))
            elif expected != folder.name:
                skipped.append(
                    Outcome(candidate, f"train.csv says '{expected}', folder says '{folder.name}'")
                )
            else:
                candidates.append(candidate)
    return candidates, skipped, labels


def _check(candidate: Candidate, out_images: Path, params: PrepareParams) -> Outcome:
    target = out_images / candidate.label / (Path(candidate.image_id).stem + ".jpg")
    try:
        note = resize_copy(candidate.source, target, params.max_side, params.min_side)
    except ValueError as exc:
        return Outcome(candidate, str(exc))
    return Outcome(candidate, note=note)


def split(frame: pd.DataFrame, valid_pct: float, seed: int) -> pd.Series:
    too_few = frame["label"].value_counts()
    too_few = too_few[too_few < 2]
    if not too_few.empty:
        raise UserError(f"class(es) {', '.join(too_few.index)} have fewer than 2 usable images: cannot split")
    _, valid_index = train_test_split(
        frame.index, test_size=valid_pct, random_state=seed, stratify=frame["label"]
    )
    return pd.Series("train", index=frame.index).mask(frame.index.isin(valid_index), "valid")


def prepare(params: PrepareParams, raw: Path = paths.RAW, out: Path = paths.PREPARED) -> dict:
    candidates, skipped, labels = find_candidates(raw)
    with paths.atomic_dir(out) as staging:
        images = staging / "images"
        with ThreadPoolExecutor(max_workers=params.workers) as pool:
            outcomes = list(
                track(
                    pool.map(lambda c: _check(c, images, params), candidates),
                    total=len(candidates),
                    description="Checking and resizing images",
                    transient=True,
                )
            )
        kept = [o for o in outcomes if o.problem is None]
        skipped += [o for o in outcomes if o.problem is not None]
        report = _report(kept, skipped, labels, raw, params)
        frame = pd.DataFrame(
            {
                "image": [f"images/{o.candidate.label}/{Path(o.candidate.image_id).stem}.jpg" for o in kept],
                "source": [str(o.candidate.source.relative_to(raw)) for o in kept],
                "label": [o.candidate.label for o in kept],
            }
        )
        frame["split"] = split(frame, params.valid_pct, params.seed)
        frame.to_csv(staging / "manifest.csv", index=False)
        (staging / "labels.txt").write_text("\n".join(labels))
        pd.DataFrame(
            [(str(o.candidate.source.relative_to(raw)), o.problem) for o in skipped],
            columns=["file", "reason"],
        ).to_csv(staging / "skipped.csv", index=False)
        counts = frame.groupby(["label", "split"]).size().unstack(fill_value=0)
        report["per_class"] = {
            label: {
                "train": int(counts.loc[label].get("train", 0)),
                "valid": int(counts.loc[label].get("valid", 0)),
            }
            for label in labels
        }
        report["train"], report["valid"] = (
            int((frame.split == "train").sum()),
            int((frame.split == "valid").sum()),
        )
    paths.write_json(paths.DATA_REPORT, report)
    print_report(report, skipped)
    return report


def _report(
    kept: list[Outcome], skipped: list[Outcome], labels: list[str], raw: Path, params: PrepareParams
) -> dict:
    total = len(kept) + len(skipped)
    kept_per_class = Counter(o.candidate.label for o in kept)
    empty = [label for label in labels if kept_per_class[label] == 0]
    if empty:
        raise UserError(
            f"class(es) {', '.join(empty)} have no usable images under {raw / 'train_images'}: "
            "add images or remove the label from train.csv"
        )
    skipped_pct = 100.0 * len(skipped) / max(total, 1)
    if skipped_pct > params.max_skipped_pct:
        reasons = Counter(o.problem for o in skipped).most_common(3)
        raise UserError(
            f"{len(skipped)} of {total} files ({skipped_pct:.1f}%) under {raw} are unusable, more than "
            f"prepare.max_skipped_pct={params.max_skipped_pct}; most common: {reasons}"
        )
    return {
        "classes": len(labels),
        "images": len(kept),
        "skipped": len(skipped),
        "skipped_pct": round(skipped_pct, 2),
        "converted": sum(1 for o in kept if o.note),
    }


def print_report(report: dict, skipped: list[Outcome]) -> None:
    console = Console()
    table = Table(title=f"Data report: {report['images']} images, {report['classes']} classes")
    for column in ("label", "train", "valid"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, split_counts in report["per_class"].items():
        table.add_row(label, str(split_counts["train"]), str(split_counts["valid"]))
    console.print(table)
    if skipped:
        console.print(f"Skipped {len(skipped)} file(s) ({report['skipped_pct']}%):")
        for outcome in skipped[:20]:
            console.print(f"  {outcome.candidate.source}: {outcome.problem}", markup=False)
        if len(skipped) > 20:
            console.print(f"  ... and {len(skipped) - 20} more, see {paths.PREPARED / 'skipped.csv'}")


def run(params: Params) -> None:
    prepare(params.prepare)
