"""Installing the pipeline's model into the app: checked first, refused with a clear message if wrong."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paddy_edge.ci.app_assets import app_files, check_bundle, exported_files, install
from paddy_edge.errors import UserError

from ..conftest import ROOT


@pytest.fixture
def app(tmp_path: Path) -> Path:
    target = tmp_path / "flutter_app"
    shutil.copytree(ROOT / "flutter_app", target)
    return target


def test_install_puts_the_exported_model_where_the_app_loads_it(tiny_bundle: Path, app: Path) -> None:
    export = tiny_bundle
    result = subprocess.run(
        [sys.executable, "-m", "paddy_edge", "app-assets", "--from", str(export), "--app", str(app)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    card = check_bundle(app_files(app))
    assert card["placeholder"] is False and card["input"]["width"] == 32
    for name, target in app_files(app).items():
        assert target.read_bytes() == (export / name).read_bytes()


def test_a_labels_file_with_a_trailing_newline_is_refused(
    tiny_bundle: Path, app: Path, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    shutil.copytree(tiny_bundle, export)
    labels = export / "labels.txt"
    labels.write_text(labels.read_text() + "\n")
    before = {name: path.read_bytes() for name, path in app_files(app).items()}
    with pytest.raises(UserError, match="ends with a newline"):
        install(export, app)
    assert {name: path.read_bytes() for name, path in app_files(app).items()} == before


def test_a_model_that_is_not_the_carded_one_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(tiny_bundle, export)
    shutil.copyfile(ROOT / "flutter_app/assets/models/model.ptl", export / "model.ptl")
    with pytest.raises(UserError, match="sha256 differs"):
        check_bundle(exported_files(export))


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        (
            "input",
            "resample",
            "bilinear",
            r'input\.resample is "bilinear".*set it in evaluate\.resample in params',
        ),
        (
            "input",
            "layout",
            "NHWC",
            r'input\.layout is "NHWC", but the app \(pytorch_lite\) can only feed "NCHW"',
        ),
        ("input", "scale", 1.0, r"input\.scale is 1\.0, but the app scales pixels by 1/255"),
        (None, "output", "probabilities", r'output is "probabilities", but the app expects "logits"'),
    ],
)
def test_a_card_the_app_cannot_honour_is_not_installed(
    app: Path, tmp_path: Path, section: str | None, key: str, value: object, message: str
) -> None:
    export = tmp_path / "export"
    export.mkdir()
    for name, path in app_files(app).items():
        shutil.copyfile(path, export / name)
    card = json.loads((export / "model_card.json").read_text())
    (card[section] if section else card)[key] = value
    (export / "model_card.json").write_text(json.dumps(card))
    before = {name: path.read_bytes() for name, path in app_files(app).items()}
    with pytest.raises(UserError, match=message):
        install(export, app)
    assert {name: path.read_bytes() for name, path in app_files(app).items()} == before
    result = subprocess.run(
        [sys.executable, "-m", "paddy_edge.ci.app_assets", "--from", str(export), "--app", str(app)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "model_card.json" in result.stderr
