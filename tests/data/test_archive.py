"""The competition zip: verified, extracted safely (zip-slip refused), layout checked, and fetch lands
data/raw only when everything succeeded."""

from __future__ import annotations

import gc
import warnings
import zipfile
from pathlib import Path

import pytest

from paddy_edge.config import DataParams
from paddy_edge.data.archive import check_layout, extract_zip, verify_zip
from paddy_edge.data.sample import write_sample_zip
from paddy_edge.errors import UserError
from paddy_edge.stages.fetch import fetch


def competition_zip(path: Path, extra: dict[str, bytes] | None = None, prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{prefix}train.csv", "image_id,label,variety,age\n1.jpg,blast,ADT45,45\n")
        archive.writestr(f"{prefix}train_images/blast/1.jpg", b"jpeg bytes")
        archive.writestr(f"{prefix}sample_submission.csv", "image_id,label\n")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("entry", ["../evil.txt", "train_images/../../evil.txt", "/etc/evil.txt"])
def test_zip_slip_entries_are_refused_and_nothing_escapes(tmp_path: Path, entry: str) -> None:
    archive = competition_zip(tmp_path / "c.zip", {entry: b"owned"})
    dest = tmp_path / "deep" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(UserError, match="unsafe entry"):
        extract_zip(archive, dest)
    assert not list(tmp_path.rglob("evil.txt"))
    assert not list(dest.iterdir())


def test_a_damaged_zip_is_reported_by_name(tmp_path: Path) -> None:
    archive = competition_zip(tmp_path / "c.zip")
    data = bytearray(archive.read_bytes())
    offset = data.find(b"jpeg bytes")
    data[offset : offset + 4] = b"JPEG"  # same length, wrong CRC
    archive.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"damaged \(bad CRC in train_images/blast/1.jpg\)"):
        verify_zip(archive)


def test_a_file_that_is_not_a_zip_says_download_again(tmp_path: Path) -> None:
    fake = tmp_path / "paddy.zip"
    fake.write_text("<html>login page</html>")
    with pytest.raises(UserError, match=r"not a readable zip.*download it again"):
        verify_zip(fake)


def test_a_zip_of_something_else_is_not_taken_for_the_competition(tmp_path: Path) -> None:
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("README.md", "hello")
    with pytest.raises(UserError, match=r"no train\.csv"):
        verify_zip(other)


def test_a_single_wrapping_folder_is_flattened(tmp_path: Path) -> None:
    archive = competition_zip(tmp_path / "c.zip", prefix="paddy-disease-classification/")
    dest = tmp_path / "raw"
    dest.mkdir()
    extract_zip(archive, dest)
    assert (dest / "train.csv").is_file()
    assert (dest / "train_images/blast/1.jpg").read_bytes() == b"jpeg bytes"


def test_fetch_from_a_hand_downloaded_zip(tmp_path: Path, tiny_sample) -> None:
    archive = tmp_path / "paddy-disease-classification.zip"
    write_sample_zip(tiny_sample, archive)
    data = DataParams(source="zip", competition="x", zip_path=str(archive), sample=tiny_sample)
    out = fetch(data, tmp_path / "data" / "raw")
    assert (out / "train.csv").is_file()
    assert len(list((out / "train_images").rglob("*.jpg"))) == 60


def test_a_failed_fetch_leaves_no_raw_data_behind(tmp_path: Path, tiny_sample) -> None:
    raw = tmp_path / "data" / "raw"
    bad = competition_zip(tmp_path / "c.zip", {"../evil.txt": b"x"})
    data = DataParams(source="zip", competition="x", zip_path=str(bad), sample=tiny_sample)
    with pytest.raises(UserError):
        fetch(data, raw)
    assert not raw.exists()
    assert sorted(p.name for p in raw.parent.iterdir()) == [], "no temporary folder is left either"


def test_a_failed_fetch_keeps_the_previous_good_data(tmp_path: Path, tiny_sample) -> None:
    raw = tmp_path / "data" / "raw"
    good = DataParams(source="sample", competition="x", sample=tiny_sample)
    fetch(good, raw)
    before = sorted(str(p.relative_to(raw)) for p in raw.rglob("*"))
    missing = DataParams(
        source="zip", competition="x", zip_path=str(tmp_path / "nope.zip"), sample=tiny_sample
    )
    with pytest.raises(UserError, match=r"nope\.zip does not exist"):
        fetch(missing, raw)
    assert sorted(str(p.relative_to(raw)) for p in raw.rglob("*")) == before


def test_checking_the_layout_closes_train_csv(tmp_path: Path, tiny_sample) -> None:
    archive = tmp_path / "sample.zip"
    write_sample_zip(tiny_sample, archive)
    extract_zip(archive, tmp_path / "raw")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        check_layout(tmp_path / "raw")
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
