"""Small pieces of the MLflow handling that must hold: no password printed, params flattened by key."""

from __future__ import annotations

from paddy_edge.tracking import _artifact_root, flatten, redact


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
