"""Installing the pipeline's model into the app: checked first, refused with a clear message if wrong."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paddy_edge.app.app_assets import app_files, check_bundle, exported_files, install
from paddy_edge.errors import UserError

from ..helpers import ROOT
from ..helpers.cli import cli


@pytest.fixture
def app(tmp_path: Path) -> Path:
    target = tmp_path / "flutter_app"
    shutil.copytree(ROOT / "flutter_app", target)
    return target


def judged(export: Path) -> dict:
    """What a gate report says of the model it judged: the bytes of export's model.pte."""
    return {"model_sha256": hashlib.sha256((export / "model.pte").read_bytes()).hexdigest()}


def passed_gate(bundle: Path, target: Path) -> Path:
    """A copy of `bundle` with a passed gate.json beside it for the card's run, as the release ships it."""
    shutil.copytree(bundle, target)
    run_id = json.loads((target / "model_card.json").read_text())["mlflow_run_id"]
    verdict = {"passed": True, "checks": [], "mlflow_run_id": run_id} | judged(target)
    (target / "gate.json").write_text(json.dumps(verdict))
    return target


def test_install_puts_the_exported_model_where_the_app_loads_it(
    tiny_bundle: Path, app: Path, tmp_path: Path
) -> None:
    export = passed_gate(tiny_bundle, tmp_path / "export")
    result = cli("app-assets", "--from", str(export), "--app", str(app))
    assert result.returncode == 0, result.stderr
    card = check_bundle(app_files(app))
    assert card["placeholder"] is False and card["input"]["width"] == 32
    for name, target in app_files(app).items():
        assert target.read_bytes() == (export / name).read_bytes()


@pytest.mark.parametrize(
    ("verdict", "message"),
    [
        ({"passed": False, "checks": [{"name": "accuracy (lite)", "passed": False}]}, r"failed \(accuracy"),
        ({"passed": True, "mlflow_run_id": "another-run"}, "passed MLflow run another-run, but"),
        (
            {"passed": True, "mlflow_run_id": "run-of-the-tiny-bundle", "model_sha256": "ab" * 32},
            r"judged a different model\.pte \(sha256 abababababab…\), not .*model\.pte: the gate has not",
        ),
        ({"passed": True, "mlflow_run_id": "run-of-the-tiny-bundle"}, "does not say which model.pte"),
        ({"accuracy": 0.9}, "not a gate report"),
        (None, "gate.json is missing"),
    ],
)
def test_a_model_without_a_passed_gate_for_its_run_is_refused_unless_forced(
    tiny_bundle: Path,
    app: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    verdict: dict | None,
    message: str,
) -> None:
    export = passed_gate(tiny_bundle, tmp_path / "export")
    if verdict is None:
        (export / "gate.json").unlink()
    else:
        (export / "gate.json").write_text(json.dumps(verdict))
    before = {name: path.read_bytes() for name, path in app_files(app).items()}
    with pytest.raises(UserError, match=message):
        install(export, app)
    assert {name: path.read_bytes() for name, path in app_files(app).items()} == before
    install(export, app, force=True)
    assert "WARNING: --force installs a model the gate did not pass" in capsys.readouterr().err
    assert (app / "assets/models/model.pte").read_bytes() == (export / "model.pte").read_bytes()


def test_a_stand_in_runs_gate_accepts_the_card_of_trains_run(
    tiny_bundle: Path, app: Path, tmp_path: Path
) -> None:
    """Training restored from a cache: the gate logged into a stand-in run, the card names train's run.
    Without gate.json beside the bundle, the workspace's reports/gate.json is the verdict."""
    export = passed_gate(tiny_bundle, tmp_path / "models/export")
    (export / "gate.json").unlink()
    gate = tmp_path / "reports/gate.json"
    gate.parent.mkdir()
    gate.write_text(
        json.dumps(
            {"passed": True, "mlflow_run_id": "stand-in", "train_run_id": "run-of-the-tiny-bundle"}
            | judged(export)
        )
    )
    install(export, app)
    gate.write_text(json.dumps({"passed": True, "mlflow_run_id": "stand-in", "train_run_id": "other"}))
    with pytest.raises(UserError, match="passed MLflow run stand-in / other, but"):
        install(export, app)


def test_card_and_gate_from_different_stores_match_by_training_run(
    tiny_bundle: Path, app: Path, tmp_path: Path
) -> None:
    """export and gate restored from the cache into two fresh stores, each with its own stand-in run:
    both still name the training run (model_card.json's and gate.json's train_run_id)."""
    export = passed_gate(tiny_bundle, tmp_path / "export")
    card_path = export / "model_card.json"
    card = json.loads(card_path.read_text()) | {"mlflow_run_id": "stand-in-a", "train_run_id": "train-1"}
    card_path.write_text(json.dumps(card))
    gate = export / "gate.json"
    verdict = {"passed": True, "mlflow_run_id": "stand-in-b", "train_run_id": "train-1"} | judged(export)
    gate.write_text(json.dumps(verdict))
    install(export, app)
    gate.write_text(json.dumps({"passed": True, "mlflow_run_id": "stand-in-a", "train_run_id": "train-2"}))
    with pytest.raises(UserError, match=r"passed MLflow run train-2, but .* is the model of run train-1"):
        install(export, app)


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


def test_the_int8_program_goes_to_the_phone_only_when_the_card_says_so(
    tiny_bundle: Path, app: Path, tmp_path: Path
) -> None:
    """export.phone_int8 writes the card's phone section for model.int8.pte: app-assets installs that
    program as the app's model.pte, judged by the gate like the fp32 one."""
    export = tmp_path / "export"
    shutil.copytree(tiny_bundle, export)
    int8 = export / "model.int8.pte"
    int8.write_bytes((export / "model.pte").read_bytes())  # any valid program stands in for the int8 one
    card = json.loads((export / "model_card.json").read_text())
    digest = hashlib.sha256(int8.read_bytes()).hexdigest()
    card["files"]["model.int8.pte"] = {"bytes": int8.stat().st_size, "sha256": digest}
    card["phone"] = {"format": "executorch_int8", "file": "model.int8.pte", "sha256": digest, "int8": True}
    (export / "model_card.json").write_text(json.dumps(card))
    assert exported_files(export)["model.pte"] == int8
    verdict = {"passed": True, "checks": [], "mlflow_run_id": card["mlflow_run_id"], "model_sha256": digest}
    (export / "gate.json").write_text(json.dumps(verdict))
    install(export, app)
    assert (app / "assets/models/model.pte").read_bytes() == int8.read_bytes()
    assert check_bundle(app_files(app))["phone"]["int8"] is True


def test_a_model_that_is_not_the_carded_one_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(tiny_bundle, export)
    shutil.copyfile(ROOT / "flutter_app/assets/models/model.pte", export / "model.pte")
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
            r'input\.layout is "NHWC", but the app can only feed "NCHW"',
        ),
        ("input", "scale", 1.0, r"input\.scale is 1\.0, but the app scales pixels by 1/255"),
        (None, "output", "probabilities", r'output is "probabilities", but the app expects "logits"'),
        (
            "phone",
            "format",
            "lite",
            r'phone is "lite" \("model\.pte"\), but the app runs ExecuTorch programs',
        ),
        ("phone", "sha256", "00" * 32, r"phone\.sha256 is not the sha256 of model\.pte in the card's files"),
        ("phone", "int8", True, r"phone\.int8 is true for the executorch program"),
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
        [sys.executable, "-m", "paddy_edge.app.app_assets", "--from", str(export), "--app", str(app)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "model_card.json" in result.stderr
