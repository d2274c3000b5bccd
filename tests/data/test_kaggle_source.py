"""Everything around the Kaggle network call: where credentials come from, the advice for each failure,
and that no secret is ever printed. (The download itself needs the network and real credentials.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests
import yaml

from paddy_edge.data.kaggle_source import credential_source, download_competition, explain_failure
from paddy_edge.errors import UserError

from ..helpers import ROOT
from ..helpers.cli import cli

SECRET = "s3cr3t-kaggle-key-0123456789"


@pytest.fixture
def no_credentials(monkeypatch, tmp_path: Path) -> Path:
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "kaggle-config"
    config.mkdir()
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    return config


def test_credential_sources_in_order(monkeypatch, no_credentials: Path) -> None:
    assert credential_source() is None
    (no_credentials / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    assert credential_source() == str(no_credentials / "kaggle.json")
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    assert credential_source() == str(no_credentials / "kaggle.json"), "a username alone is not enough"
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    assert credential_source() == "KAGGLE_USERNAME/KAGGLE_KEY"
    monkeypatch.setenv("KAGGLE_API_TOKEN", SECRET)
    assert credential_source() == "KAGGLE_API_TOKEN"


def test_no_credentials_says_what_to_set_without_calling_kaggle(no_credentials: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError) as raised:
        download_competition("paddy-disease-classification", tmp_path)
    message = str(raised.value)
    assert "KAGGLE_API_TOKEN" in message and "KAGGLE_USERNAME and KAGGLE_KEY" in message
    assert "make smoke" in message
    assert "kaggle.api.kaggle_api_extended" not in sys.modules


def _http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status} Client Error", response=response)


def test_each_failure_gets_its_advice() -> None:
    forbidden = explain_failure(_http_error(403), "paddy-disease-classification")
    assert "accept the competition rules" in forbidden
    assert "kaggle.com/competitions/paddy-disease-classification/rules" in forbidden
    assert "wrong or expired" in explain_failure(_http_error(401), "c")
    assert "check data.competition" in explain_failure(_http_error(404), "c")
    offline = explain_failure(requests.ConnectionError("Failed to resolve 'api.kaggle.com'"), "c")
    assert "no network" in offline and "data.source: zip" in offline


def test_fetch_without_credentials_fails_cleanly_and_prints_no_secret(tmp_path: Path) -> None:
    """The real CLI, the real default params: one message, exit 2, no data/raw, and KAGGLE_KEY never shown."""
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "KAGGLE_CONFIG_DIR": str(tmp_path / "empty"),
        "KAGGLE_KEY": SECRET,  # a key without a username is not a credential
    }
    result = cli("fetch", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "No Kaggle credentials found" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "raw").exists()
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["data"]["source"] == "kaggle"
