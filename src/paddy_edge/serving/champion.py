"""Which registered model `make serve` and `make demo` run, checked before anything starts: a store that
does not exist, a model without the alias, or a version registered before the gate logged MLflow Models
is one line that says what to do (and no empty mlflow.db is left behind)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paddy_edge import paths
from paddy_edge.errors import UserError
from paddy_edge.tracking import store_uri


def registered_name(params_file: Path = paths.PARAMS) -> str:
    """params.yaml `mlflow.registered_model` (what the gate registers)."""
    from paddy_edge.config import load_params

    return load_params(params_file).mlflow.registered_model


def _no_champion(name: str, alias: str, store: str, client: Any) -> UserError:
    from mlflow.exceptions import MlflowException

    try:
        others = sorted(m.name for m in client.search_registered_models() if alias in m.aliases)
    except MlflowException:  # the hint is a courtesy: the message stands without it
        others = []
    hint = (
        f" (models with a {alias} in this store: {', '.join(others)}; choose one with MODEL_NAME=… for make, "
        "--model for paddy-edge)"
        if others
        else ""
    )
    return UserError(f"no model '{name}' with the alias '{alias}' in {store}{hint}: run make smoke first")


def find(name: str, alias: str = "champion") -> Any:
    """The ModelVersion that `models:/<name>@<alias>` names, once it is known to be an MLflow Model."""
    uri = store_uri.connect()
    store = store_uri.shown_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise UserError(f"no MLflow store at {store}: run make smoke first (or set MLFLOW_TRACKING_URI)")
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(uri)
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise _no_champion(name, alias, store, client) from None
        raise store_uri.user_error(exc) from None
    try:
        mlflow.models.get_model_info(f"models:/{name}@{alias}")  # reads its MLmodel file only
    except MlflowException as exc:
        if "MLmodel" not in str(exc):
            raise store_uri.user_error(exc) from None
        raise UserError(
            f"the {alias} of '{name}' (version {version.version}) in {store} is no MLflow Model (it was "
            "registered before the gate logged one): point the alias at a version registered since, or "
            "start a new store with make smoke"
        ) from None
    return version
