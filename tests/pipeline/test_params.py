"""params.yaml validation: every mistake is named by its key before any work starts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from paddy_edge.config import load_params, read_yaml
from paddy_edge.errors import UserError

from ..helpers import ROOT
from ..helpers.cli import cli
from ..helpers.pipeline import params_with


def test_shipped_params_are_valid_and_describe_the_real_run() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params.data.source == "kaggle"
    assert params.data.competition == "paddy-disease-classification"
    assert params.train.arch == "edgenext_xx_small"
    assert params.train.pretrained is True


def test_smoke_profile_overlays_to_valid_offline_params() -> None:
    params = params_with(read_yaml(ROOT / "profiles/smoke.yaml"))
    assert params.data.source == "sample"
    assert params.train.pretrained is False


@pytest.mark.parametrize(
    ("overlay", "key", "words"),
    [
        ({"train": {"epochs": "five"}}, "train.epochs", "integer"),
        # strict: a bool or a string where a number goes is a mistake, not 1 or 3
        ({"train": {"processes": True}}, "train.processes", "a valid integer (got True)"),
        ({"train": {"epochs": "3"}}, "train.epochs", "a valid integer (got '3')"),
        ({"train": {"augment": 1}}, "train.augment", "a valid boolean (got 1)"),
        ({"train": {"epochs": -1}}, "train.epochs", "greater than 0"),
        ({"train": {"epoch": 3}}, "train.epoch", "unknown key"),
        ({"prepare": {"valid_pct": 1.5}}, "prepare.valid_pct", "less than 1"),
        ({"data": {"source": "s3"}}, "data.source", "'kaggle', 'zip' or 'sample'"),
        ({"data": {"source": "zip"}}, "data", "data.zip_path is empty"),
        ({"gates": {"min_accuracy": 2}}, "gates.min_accuracy", "less than or equal to 1"),
        ({"export": {"formats": ["lite", "executorch"]}}, "export.formats", "must include onnx"),
        (
            {"export": {"formats": ["lite", "onnx"]}},
            "export.formats",
            "must include executorch: it is the model",
        ),
        (
            {"export": {"qat_epochs": 1, "formats": ["executorch", "onnx"]}},
            "export",
            "qat_epochs fine-tunes executorch_int8",
        ),
        (
            {"export": {"phone_int8": True, "formats": ["executorch", "onnx"]}},
            "export",
            "phone_int8 puts executorch_int8 on the phone: list executorch_int8",
        ),
        ({"export": {"phone_int8": "yes"}}, "export.phone_int8", "valid boolean"),
    ],
)
def test_a_bad_value_is_named_by_its_key(overlay: dict, key: str, words: str) -> None:
    with pytest.raises(UserError) as raised:
        params_with(overlay)
    message = str(raised.value)
    assert f"  {key}: " in message
    assert words in message


def test_a_float_written_1e_4_is_the_number_yaml_reads_as_a_string() -> None:
    assert read_yaml_value("1e-4") == "1e-4"  # YAML 1.1 wants a dot: 1.0e-4
    assert params_with({"export": {"qat_lr": "1e-4"}}).export.qat_lr == 0.0001


def read_yaml_value(text: str):
    return yaml.safe_load(f"value: {text}")["value"]


def test_an_unknown_timm_model_suggests_close_names() -> None:
    with pytest.raises(UserError) as raised:
        params_with({"train": {"arch": "edgenext_xx_smal"}})
    assert "train.arch" in str(raised.value)
    assert "Did you mean edgenext_xx_small" in str(raised.value)


def test_the_cli_reports_bad_params_in_one_message_without_traceback(tmp_path) -> None:
    raw = read_yaml(ROOT / "params.yaml")
    raw["prepare"]["seed"] = "not a number"
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(raw))
    result = cli("prepare", "--params", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "prepare.seed" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists(), "nothing is written when params are invalid"


def test_the_architecture_is_checked_by_check_params_and_train_the_stages_that_read_it(tmp_path) -> None:
    """fetch does not read train.arch (export, evaluate and bench load the one model_spec.json names), so
    it does not import timm to check it: about 3 s a stage. check-params, first in dvc.yaml, and train
    refuse a misspelt one, naming the key."""
    raw = read_yaml(ROOT / "params.yaml")
    raw["train"]["arch"] = "edgenext_xx_smal"
    raw["data"] |= {"source": "sample", "sample": {**raw["data"]["sample"], "images_per_class": 5}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))

    fetch = cli("fetch", cwd=tmp_path)
    assert fetch.returncode == 0, fetch.stdout + fetch.stderr
    for stage in ("check-params", "train"):
        refused = cli(stage, cwd=tmp_path)
        assert refused.returncode == 2
        assert "train.arch: 'edgenext_xx_smal' is not a timm model" in refused.stderr


def test_a_missing_params_file_says_where_to_run_from(tmp_path) -> None:
    with pytest.raises(UserError, match="run from the repository root"):
        load_params(tmp_path / "params.yaml")


def test_dvc_repro_refuses_a_misspelt_key_that_no_stage_reads(tmp_path) -> None:
    """`trian:` is in no stage's params, so without the check-params stage `dvc repro` would find nothing
    to run and say the pipeline is up to date. Real dvc on a copy of dvc.yaml and the validation's code."""
    dvc = str(Path(sys.executable).with_name("dvc"))
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", tmp_path)
    shutil.copy(ROOT / "params.yaml", tmp_path)
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)

    def repro() -> subprocess.CompletedProcess:
        command = [dvc, "repro", "--single-item", "check-params"]
        env = os.environ | {"PATH": f"{Path(dvc).parent}:{os.environ['PATH']}"}  # dvc.yaml's `python`
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)

    assert repro().returncode == 0
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params | {"trian": {"epochs": 1}}))
    refused = repro()
    output = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode != 0 and "Running stage 'check-params'" in output
    assert "trian" in output and "Traceback" not in output, output
