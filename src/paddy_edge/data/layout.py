"""The Kaggle layout's files paired with train.csv, the labels they name, and the words for what went
wrong with them: per-reason counts with an example file, the cause of a class left empty, labels outside
the competition's. prepare reads the data through here."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console

from paddy_edge.config import PrepareParams
from paddy_edge.data.archive import check_layout
from paddy_edge.data.labels import PADDY_LABELS
from paddy_edge.errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
MISMATCH = "train.csv label differs from the folder"
UNLISTED = "not listed in train.csv"
TWO_LABELS = "train.csv gives it two labels"


@dataclass(frozen=True)
class Candidate:
    source: Path
    label: str  # the folder's
    image_id: str
    csv_label: str | None = None  # train.csv's, where it names the file


@dataclass(frozen=True)
class Outcome:
    candidate: Candidate
    problem: str | None = None  # why the file was skipped
    note: str | None = None  # a conversion worth reporting (CMYK, grayscale, PNG, ...)
    kind: str | None = None  # the problem's category, for counting

    @classmethod
    def skip(cls, candidate: Candidate, kind: str, problem: str | None = None) -> Outcome:
        return cls(candidate, problem or kind, kind=kind)


def find_candidates(raw: Path) -> tuple[list[Candidate], list[Outcome], list[str]]:
    """Pair files under train_images/<label>/ with train.csv rows. Return usable candidates, files skipped
    for disagreeing with train.csv, and every label seen (folders and csv)."""
    check_layout(raw)
    table = pd.read_csv(raw / "train.csv", dtype=str)
    labels_per_id = table.groupby("image_id")["label"].nunique()
    ambiguous = set(labels_per_id[labels_per_id > 1].index)
    csv_label = dict(zip(table["image_id"], table["label"], strict=True))
    folders = sorted(p for p in (raw / "train_images").iterdir() if p.is_dir())
    labels = sorted({p.name for p in folders} | set(table["label"].dropna()))
    candidates, skipped = [], []
    for folder in folders:
        for source in sorted(p for p in folder.iterdir() if p.is_file()):
            expected = csv_label.get(source.name)
            candidate = Candidate(source, folder.name, source.name, expected)
            if source.suffix.lower() not in IMAGE_SUFFIXES:
                suffix = source.suffix or "no suffix"
                skipped.append(
                    Outcome.skip(candidate, "not an image file name", f"not an image file name ({suffix})")
                )
            elif expected is None:
                skipped.append(Outcome.skip(candidate, UNLISTED))
            elif source.name in ambiguous:
                skipped.append(Outcome.skip(candidate, TWO_LABELS))
            elif expected != folder.name:
                problem = f"train.csv says '{expected}', folder says '{folder.name}'"
                skipped.append(Outcome.skip(candidate, MISMATCH, problem))
            else:
                candidates.append(candidate)
    warn_about_rows(table, {c.source.name for c in candidates} | {o.candidate.image_id for o in skipped})
    return candidates, skipped, labels


def warn_about_rows(table: pd.DataFrame, files: set[str]) -> None:
    """Rows that pair with no file, and image_ids listed twice: left out silently, they would make the
    dataset look smaller or differently labelled than train.csv says, with nothing to say why."""
    ids = table["image_id"].dropna()
    missing = sorted(set(ids) - files)
    repeated = sorted(set(ids[ids.duplicated()]))
    for found, what in ((missing, "with no file under train_images/<label>/"), (repeated, "listed twice")):
        if found:
            Console(stderr=True, soft_wrap=True).print(
                f"[bold yellow]warning:[/] train.csv has {len(found)} image_id(s) {what} "
                f"(e.g. {found[0]}): they are left out",
                highlight=False,
            )


def check_labels(labels: list[str], raw: Path, params: PrepareParams) -> list[str]:
    """The labels outside the competition's: a UserError naming them, or, where prepare.allow_new_labels
    is true, a printed warning. Return them."""
    extra = [label for label in labels if label not in PADDY_LABELS]
    if not extra:
        return []
    csv_counts = pd.read_csv(raw / "train.csv", dtype=str)["label"].value_counts()
    where = []
    for label in extra:
        folder = raw / "train_images" / label
        files = sum(1 for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0
        found = [f"folder {folder} ({files} files)"] if folder.is_dir() else []
        if label in csv_counts:
            found.append(f"{raw / 'train.csv'} ({csv_counts[label]} rows)")
        close = difflib.get_close_matches(label.lower(), PADDY_LABELS, n=1)
        hint = f" (a misspelt '{close[0]}'?)" if close else ""
        where.append(f"'{label}' in {' and '.join(found)}{hint}")
    described = "; ".join(where)
    if not params.allow_new_labels:
        raise UserError(
            f"label(s) outside the competition's {len(PADDY_LABELS)}: {described}. The model would have "
            f"{len(labels)} classes and the app and the model card would disagree with the competition. Fix "
            "the folder name or train.csv, or set prepare.allow_new_labels: true to train with them."
        )
    Console().print(
        f"[bold yellow]warning:[/] training {len(labels)} classes, with label(s) outside the competition's "
        f"{len(PADDY_LABELS)} (prepare.allow_new_labels is true): {described}",
        highlight=False,
        soft_wrap=True,
    )
    return extra


def reason_counts(skipped: list[Outcome], raw: Path) -> str:
    """'6 not listed in train.csv (e.g. train_images/x/1.jpg); 2 cannot decode (e.g. ...: details)'."""
    by_kind: dict[str, list[Outcome]] = {}
    for outcome in skipped:
        by_kind.setdefault(outcome.kind or outcome.problem or "?", []).append(outcome)
    parts = []
    for kind, outcomes in sorted(by_kind.items(), key=lambda item: -len(item[1])):
        first = outcomes[0]
        detail = "" if first.problem == kind else f": {first.problem}"
        parts.append(f"{len(outcomes)} {kind} (e.g. {first.candidate.source.relative_to(raw)}{detail})")
    return "; ".join(parts)


def empty_class_message(empty: list[str], skipped: list[Outcome], raw: Path) -> str:
    """Why each class in `empty` has no usable image, from the skips that concern it (its folder's files,
    and files train.csv gives its label), and what to do."""
    lines = [f"class(es) {', '.join(empty)} have no usable images under {raw / 'train_images'}:"]
    disagree = False
    for label in empty:
        folder = raw / "train_images" / label
        related = [o for o in skipped if label in (o.candidate.label, o.candidate.csv_label)]
        disagree |= any(o.kind in (MISMATCH, UNLISTED) for o in related)
        if not folder.is_dir():
            disagree = True
            found = f"; {reason_counts(related, raw)}" if related else ""
            lines.append(f"  {label}: named in train.csv, but there is no folder {folder}{found}")
        elif related:
            lines.append(f"  {label}: {reason_counts(related, raw)}")
        else:
            lines.append(f"  {label}: the folder {folder} holds no files")
    if disagree:
        lines.append(
            "train.csv and the folders disagree: each image must be in train_images/<its train.csv label>/ "
            "and listed in train.csv (is train.csv from another release of the data?)"
        )
    else:
        lines.append("Add usable images to the folder, or remove the label's rows from train.csv.")
    return "\n".join(lines)
