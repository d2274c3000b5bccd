"""Small pieces of the MLflow handling that must hold: no password printed, params flattened by key."""

from __future__ import annotations

import os
import subprocess

from paddy_edge.tracking.mlflow_runs import _artifact_root, _process_start, flatten
from paddy_edge.tracking.store_uri import HTTP_DEFAULTS, connect, redact, scrub, shown_uri, split_credentials


def test_a_password_in_the_tracking_uri_is_never_shown() -> None:
    assert redact("https://alice:s3cret@mlflow.example.org") == "https://alice:***@mlflow.example.org"
    assert redact("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_params_are_flattened_to_dotted_keys() -> None:
    assert flatten({"train": {"arch": "x", "epochs": 3}, "gates": {"min": 0.5}}) == {
        "train.arch": "x",
        "train.epochs": 3,
        "gates.min": 0.5,
    }


def test_local_store_keeps_artifacts_beside_the_database(tmp_path) -> None:
    assert _artifact_root(f"sqlite:///{tmp_path}/mlflow.db") == (tmp_path / "mlartifacts").as_uri()
    assert _artifact_root("https://mlflow.example.org") is None


def test_credentials_leave_the_uri_and_every_secret_leaves_messages() -> None:
    uri = "https://alice:p%40ss-w0rd@mlflow.example.org:8443/base?x=1"
    assert split_credentials(uri) == ("https://mlflow.example.org:8443/base?x=1", "alice", "p@ss-w0rd")
    assert split_credentials("sqlite:///mlflow.db") == ("sqlite:///mlflow.db", None, None)
    message = "API request to https://alice:p%40ss-w0rd@mlflow.example.org failed: bad 'p@ss-w0rd'"
    assert "w0rd" not in scrub(message, uri) and "alice:***@mlflow.example.org" in scrub(message, uri)
    assert scrub("GET http://bob:other@host/x", "sqlite:///mlflow.db") == "GET http://bob:***@host/x"
    signed = "https://mlflow.example.org/?access_token=tok123&page=2"
    assert redact(signed) == "https://mlflow.example.org/?access_token=***&page=2"


def test_connect_hands_mlflow_a_clean_uri_and_keeps_the_users_own_settings(monkeypatch) -> None:
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", *HTTP_DEFAULTS):
        monkeypatch.setenv(name, "")  # so that monkeypatch also removes what connect() sets
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://alice:s3cret@127.0.0.1:5000")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")
    assert connect() == "http://127.0.0.1:5000" == os.environ["MLFLOW_TRACKING_URI"]
    assert (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]) == (
        "alice",
        "s3cret",
    )
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "99"  # the user's value wins
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == HTTP_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
    assert shown_uri() == "http://alice:***@127.0.0.1:5000"
    assert scrub("failed: s3cret") == "failed: ***"  # known from MLFLOW_TRACKING_PASSWORD now
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://bob:other@127.0.0.1:5000")
    connect()
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "s3cret"  # set already: not replaced


def test_a_dead_process_is_told_from_a_live_one() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    assert _process_start(child.pid) is None
    assert _process_start(os.getpid())  # alive, with its start time
