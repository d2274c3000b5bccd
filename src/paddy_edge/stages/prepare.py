"""Stage prepare: check every image in the Kaggle layout, cross-check it with train.csv
(paddy_edge.data.layout), write pre-resized copies, upright as the app sees them (paddy_edge.phone.images), a
stratified train/valid split (manifest.csv), labels.txt and a data report.

Bad files are skipped and reported, with counts per reason; a class left empty, too many skipped files, a
label outside the competition's 10 (unless prepare.allow_new_labels) or a valid_pct the data cannot be
split by fails the stage with one message that says why."""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from PIL import Image
from rich.console import Console
from rich.progress import track
from rich.table import Table
from sklearn.model_selection import train_test_split

from paddy_edge import paths
from paddy_edge.config import Params, PrepareParams
from paddy_edge.data.layout import (
    Candidate,
    Outcome,
    check_labels,
    empty_class_message,
    find_candidates,
    reason_counts,
)
from paddy_edge.errors import UserError
from paddy_edge.phone.images import UnreadableImage, decode
from paddy_edge.runtime import outputs


def resize_copy(source: Path, target: Path, max_side: int, min_side: int) -> str | None:
    """Decode (at reduced scale where JPEG allows; upright as the app sees it), convert to RGB, shrink to
    max_side, save as JPEG. Return a note about a conversion, or raise UnreadableImage saying why the file
    is unusable."""
    decoded = decode(source, max_side=max_side, min_side=min_side)
    rgb = decoded.rgb
    rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    target.parent.mkdir(parents=True, exist_ok=True)
    rgb.save(target, format="JPEG", quality=92)
    notes = []
    if decoded.mode != "RGB":
        notes.append(f"converted from {decoded.mode}")
    if decoded.format != "JPEG":
        notes.append(f"{decoded.format} file")
    return ", ".join(notes) or None


def _check(candidate: Candidate, out_images: Path, params: PrepareParams) -> Outcome:
    target = out_images / candidate.label / (Path(candidate.image_id).stem + ".jpg")
    try:
        note = resize_copy(candidate.source, target, params.max_side, params.min_side)
    except UnreadableImage as exc:
        return Outcome.skip(candidate, exc.kind, str(exc))
    return Outcome(candidate, note=note)


def valid_pct_range(n_images: int, n_classes: int) -> tuple[float, float]:
    """The valid_pct values (to 3 decimals) for which a stratified split puts at least one image of every
    class in each split: ceil(valid_pct * n) >= n_classes and n - ceil(valid_pct * n) >= n_classes."""
    low = math.ceil(1000 * n_classes / n_images) / 1000
    high = math.floor(1000 * (n_images - n_classes) / n_images) / 1000
    return low, high


def split(frame: pd.DataFrame, valid_pct: float, seed: int) -> pd.Series:
    too_few = frame["label"].value_counts()
    too_few = too_few[too_few < 2]
    if not too_few.empty:
        raise UserError(f"class(es) {', '.join(too_few.index)} have fewer than 2 usable images: cannot split")
    n_images, n_classes = len(frame), frame["label"].nunique()
    n_valid = math.ceil(valid_pct * n_images)  # as train_test_split counts it
    if min(n_valid, n_images - n_valid) < n_classes:
        low, high = valid_pct_range(n_images, n_classes)
        raise UserError(
            f"prepare.valid_pct={valid_pct} leaves {n_valid} validation and {n_images - n_valid} training "
            f"images, but a stratified split needs at least one image of each of the {n_classes} classes in "
            f"each: with {n_images} usable images, set prepare.valid_pct between {low} and {high}"
        )
    _, valid_index = train_test_split(
        frame.index, test_size=valid_pct, random_state=seed, stratify=frame["label"]
    )
    return pd.Series("train", index=frame.index).mask(frame.index.isin(valid_index), "valid")


def prepare(params: PrepareParams, raw: Path = paths.RAW, out: Path = paths.PREPARED) -> dict:
    candidates, skipped, labels = find_candidates(raw)
    extra_labels = check_labels(labels, raw, params)
    with outputs.atomic_dir(out) as staging:
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
        if extra_labels:
            report["extra_labels"] = extra_labels
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
    outputs.write_json(paths.DATA_REPORT, report)
    print_report(report, skipped, raw, out)
    return report


def _report(
    kept: list[Outcome], skipped: list[Outcome], labels: list[str], raw: Path, params: PrepareParams
) -> dict:
    total = len(kept) + len(skipped)
    kept_per_class = Counter(o.candidate.label for o in kept)
    empty = [label for label in labels if kept_per_class[label] == 0]
    if empty:
        raise UserError(empty_class_message(empty, skipped, raw))
    skipped_pct = 100.0 * len(skipped) / max(total, 1)
    if skipped_pct > params.max_skipped_pct:
        raise UserError(
            f"{len(skipped)} of {total} files ({skipped_pct:.1f}%) under {raw} are unusable, more than "
            f"prepare.max_skipped_pct={params.max_skipped_pct}: {reason_counts(skipped, raw)}"
        )
    return {
        "classes": len(labels),
        "images": len(kept),
        "skipped": len(skipped),
        "skipped_pct": round(skipped_pct, 2),
        "converted": sum(1 for o in kept if o.note),
    }


def print_report(report: dict, skipped: list[Outcome], raw: Path, out: Path) -> None:
    console = Console()
    table = Table(title=f"Data report: {report['images']} images, {report['classes']} classes")
    for column in ("label", "train", "valid"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, split_counts in report["per_class"].items():
        table.add_row(label, str(split_counts["train"]), str(split_counts["valid"]))
    console.print(table)
    if skipped:
        kinds = Counter(o.kind for o in skipped).most_common()
        summary = ", ".join(f"{count} {kind}" for kind, count in kinds)
        console.print(
            f"Skipped {len(skipped)} file(s) ({report['skipped_pct']}%): {summary}", highlight=False
        )
        for outcome in skipped[:20]:
            where = outcome.candidate.source.relative_to(raw)
            console.print(f"  {where}: {outcome.problem}", markup=False, highlight=False, soft_wrap=True)
        if len(skipped) > 20:
            console.print(f"  ... and {len(skipped) - 20} more, see {out / 'skipped.csv'}", highlight=False)


def run(params: Params) -> None:
    prepare(params.prepare)
