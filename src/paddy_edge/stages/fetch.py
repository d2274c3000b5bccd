"""Stage fetch: get the competition zip (Kaggle, a local file, or generated samples), verify it and
extract it into data/raw in the Kaggle layout. Whatever the source, the same verify -> extract runs."""

from __future__ import annotations

import shutil
from pathlib import Path

from paddy_edge import paths
from paddy_edge.config import DataParams, Params
from paddy_edge.data.archive import ZipLimits, extract_zip
from paddy_edge.data.kaggle_source import download_competition
from paddy_edge.data.sample import write_sample_zip
from paddy_edge.runtime import outputs


def fetch(data: DataParams, out: Path = paths.RAW) -> Path:
    scratch = outputs.scratch_dir(out)
    try:
        if data.source == "kaggle":
            archive = download_competition(data.competition, scratch)
        elif data.source == "zip":
            archive = Path(data.zip_path or "").expanduser()
        else:
            archive = scratch / "sample.zip"
            count = write_sample_zip(data.sample, archive)
            print(f"Generated {count} sample training images (seed {data.sample.seed}), offline")
        limits = ZipLimits(data.max_unzipped_mb, data.max_zip_ratio)
        with outputs.atomic_dir(out) as staging:
            extract_zip(archive, staging, limits)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"Extracted {archive.name} into {out}")
    return out


def run(params: Params) -> None:
    fetch(params.data)
