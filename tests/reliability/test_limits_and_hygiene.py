"""Limits and hygiene, fast: zip bombs, malformed inputs that used to print pages or name a deleted
path, umask, the stage lock, and the debris a killed run leaves. Real files, real CLI processes."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from paddy_edge.data.archive import ZipLimits, extract_zip, verify_zip
from paddy_edge.data.sample import write_sample_zip
from paddy_edge.errors import UserError
from paddy_edge.runtime import outputs

from ..helpers.cli import cli
from ..helpers.params import write_params
from .conftest import temps_under

SAMPLE_OVERLAY = {
    "data": {
        "source": "sample",
        "sample": {"images_per_class": 5, "test_images": 1, "width": 40, "height": 48, "seed": 3},
    }
}


def _competition_zip(
    path: Path, extra: dict[str, bytes] | None = None, csv_header: str | None = None
) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        header = csv_header or "image_id,label,variety,age"
        archive.writestr("train.csv", f"{header}\n100001.jpg,normal,ADT45,45\n")
        archive.writestr("train_images/normal/100001.jpg", b"\xff\xd8 not really a jpeg")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def test_a_zip_bomb_is_refused_from_its_headers(tmp_path: Path) -> None:
    bomb = _competition_zip(tmp_path / "bomb.zip", {"test_images/zeros.jpg": bytes(64 * 2**20)})
    assert bomb.stat().st_size < 2**20  # 64 MB of zeros deflate to well under 1 MB

    with pytest.raises(UserError, match=r"bomb\.zip would expand [\d,]+x .*data\.max_zip_ratio=50"):
        extract_zip(bomb, tmp_path / "raw", ZipLimits())
    assert not (tmp_path / "raw").exists()
    with pytest.raises(UserError, match=r"would expand to 67 MB, more than data\.max_unzipped_mb=10"):
        verify_zip(bomb, ZipLimits(max_unzipped_mb=10, max_ratio=10_000))
    # Raising the keys lets a zip you trust through.
    verify_zip(bomb, ZipLimits(max_unzipped_mb=100, max_ratio=10_000))


def test_fetch_refuses_a_bomb_and_leaves_nothing(tmp_path: Path) -> None:
    bomb = _competition_zip(tmp_path / "bomb.zip", {"test_images/zeros.jpg": bytes(32 * 2**20)})
    work = tmp_path / "work"
    work.mkdir()
    write_params(work, {"data": {"source": "zip", "zip_path": str(bomb)}})

    result = cli("fetch", cwd=work)

    assert result.returncode == 2, result.stderr
    assert "data.max_zip_ratio" in result.stderr and "Traceback" not in result.stderr
    assert not (work / "data/raw").exists() and temps_under(work) == []


def test_a_missing_column_names_the_zip_member_not_a_temporary_path(tmp_path: Path) -> None:
    archive = _competition_zip(tmp_path / "cols.zip", csv_header="image_id,label")
    work = tmp_path / "work"
    work.mkdir()
    write_params(work, {"data": {"source": "zip", "zip_path": str(archive)}})

    result = cli("fetch", cwd=work)

    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert f"{archive}: its train.csv lacks the column(s) variety, age" in message
    assert ".tmp" not in message


@pytest.mark.parametrize("content", ['{"username": "someone", "key": ', '["not", "a", "mapping"]'])
def test_a_malformed_kaggle_json_gets_one_message(tmp_path: Path, content: str) -> None:
    config = tmp_path / "kaggle"
    config.mkdir()
    (config / "kaggle.json").write_text(content)
    work = tmp_path / "work"
    work.mkdir()
    write_params(work)  # data.source: kaggle
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env |= {"KAGGLE_CONFIG_DIR": str(config), "HOME": str(tmp_path)}

    result = cli("fetch", cwd=work, env=env, timeout=120)

    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert output.count("error:") == 1 and "kaggle.json" in output
    assert "Authentication required" not in output and "Traceback" not in output
    assert "someone" not in output  # nothing of the file's content is printed


def test_an_invalid_registered_model_name_is_a_params_error(tmp_path: Path) -> None:
    write_params(tmp_path, {"mlflow": {"registered_model": "team/paddy"}})

    result = cli("fetch", cwd=tmp_path)

    assert result.returncode == 2
    assert "mlflow.registered_model" in result.stderr and "'/'" in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_get_the_users_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        with outputs.atomic_dir(tmp_path / "out") as staging:
            (staging / "file").write_text("x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o777 & ~umask


def test_fetch_removes_what_a_killed_run_left_and_says_so(tmp_path: Path) -> None:
    write_params(tmp_path, SAMPLE_OVERLAY)
    debris = [tmp_path / "data/.raw.k1ll3d.tmp", tmp_path / "data/.raw.0rphan.tmp-scratch"]
    for folder in debris:
        (folder / "train_images").mkdir(parents=True)
    unrelated = tmp_path / "data/.keep.tmp"
    unrelated.mkdir()

    result = cli("fetch", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Removed 2 temporary output(s) of an interrupted fetch run" in result.stdout
    assert not any(folder.exists() for folder in debris) and unrelated.is_dir()
    assert (tmp_path / "data/raw/train.csv").is_file()


def _hold_lock(stage: str, cwd: Path) -> subprocess.Popen:
    """Another process running `stage` in `cwd` (it holds the lock until killed)."""
    code = (
        "import sys, time; from paddy_edge.runtime import outputs\n"
        f"with outputs.stage_lock({stage!r}):\n    print('locked', flush=True); time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_writer_is_refused_until_the_first_dies(tmp_path: Path) -> None:
    write_params(tmp_path, SAMPLE_OVERLAY)
    holder = _hold_lock("fetch", tmp_path)
    try:
        refused = cli("fetch", cwd=tmp_path)
        assert refused.returncode == 2
        assert "the fetch stage is already running" in refused.stderr
        assert f"pid {holder.pid}" in refused.stderr
        assert not (tmp_path / "data/raw").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel dropped the dead holder's lock: no stale lock blocks the rerun.
    deadline = time.monotonic() + 30
    while (rerun := cli("fetch", cwd=tmp_path)).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert rerun.returncode == 0, rerun.stderr
    assert not outputs.lock_file("fetch", tmp_path).exists()  # a finished stage leaves no lock file


def test_sample_zip_still_fits_the_default_limits(tmp_path: Path, tiny_sample) -> None:
    """The limits must not refuse the data the pipeline is built for (photos barely compress)."""
    write_sample_zip(tiny_sample, tmp_path / "sample.zip")
    verify_zip(tmp_path / "sample.zip", ZipLimits())
