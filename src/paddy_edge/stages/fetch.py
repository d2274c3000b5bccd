"""Stage fetch: get the competition zip (Kaggle, a local file, or generated samples), verify it and
extract it into data/raw in the Kaggle layout. Whatever the source, the same verify -> extract runs."""

from __future__ import annotations

import tempfile
from pathlib import Path

from paddy_edge import paths
from paddy_edge.archive import extract_zip
from paddy_edge.config import DataParams, Params
from paddy_edge.kaggle_source import download_competition
from paddy_edge.sample import write_sample_zip


def fetch(data: DataParams, out: Path = paths.RAW) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=out.parent) as scratch:
        if data.source == "kaggle":
            archive = download_competition(data.competition, Path(scratch))
        elif data.source == "zip":
            archive = Path(data.zip_path or "").expanduser()
        else:
            archive = Path(scratch) / "sample.zip"
            count = write_sample_zip(data.sample, archive)
            print(f"Generated {count} sample training images (seed {data.sample.seed}), offline")
        with paths.atomic_dir(out) as staging:
            extract_zip(archive, staging)
    print(f"Extracted {archive.name} into {out}")
    return out


def run(params: Params) -> None:
    fetch(params.data)
