"""Installing the pipeline's model into the app: checked first, refused with a clear message if wrong."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paddy_edge.app_assets import app_files, check_bundle, exported_files, install
from paddy_edge.errors import UserError

from ..conftest import ROOT, Pipeline


@pytest.fixture
def app(tmp_path: Path) -> Path:
    target = tmp_path / "flutter_app"
    shutil.copytree(ROOT / "flutter_app", target)
    return target


def test_install_puts_the_trained_model_where_the_app_loads_it(pipeline: Pipeline, app: Path) -> None:
    export = pipeline.workspace / "models/export"
    result = subprocess.run(
        [sys.executable, "-m", "paddy_edge", "app-assets", "--from", str(export), "--app", str(app)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    card = check_bundle(app_files(app))
    assert card["placeholder"] is False and card["input"]["width"] == 96
    for name, target in app_files(app).items():
        assert target.read_bytes() == (export / name).read_bytes()


def test_a_labels_file_with_a_trailing_newline_is_refused(
    pipeline: Pipeline, app: Path, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    shutil.copytree(pipeline.workspace / "models/export", export)
    labels = export / "labels.txt"
    labels.write_text(labels.read_text() + "\n")
    before = {name: path.read_bytes() for name, path in app_files(app).items()}
    with pytest.raises(UserError, match="ends with a newline"):
        install(export, app)
    assert {name: path.read_bytes() for name, path in app_files(app).items()} == before


def test_a_model_that_is_not_the_carded_one_is_refused(pipeline: Pipeline, tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(pipeline.workspace / "models/export", export)
    shutil.copyfile(ROOT / "flutter_app/assets/models/model.ptl", export / "model.ptl")
    with pytest.raises(UserError, match="sha256 differs"):
        check_bundle(exported_files(export))
