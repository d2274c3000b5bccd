"""MLflow: one run per trained model. train opens it; every later stage logs into the same run.

The default store is a local SQLite file (no server); MLFLOW_TRACKING_URI points at a server instead.
Only params.yaml values, metrics and files are logged: never the environment (it may hold secrets).
Each stage logs the params it reads: train the ones that make the model (as MLflow params, which are
immutable), the later stages theirs as `params.*` tags, because they may rerun on the same model with
other values (a new gate threshold reruns only the gate)."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from paddy_edge import paths
from paddy_edge.config import Params, flatten
from paddy_edge.errors import UserError


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or paths.MLFLOW_DEFAULT_URI


def _artifact_root(uri: str) -> str | None:
    """For a local SQLite store, keep artifacts in `mlartifacts/` beside the database file."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    return (database.resolve().parent / "mlartifacts").as_uri()


def use_experiment(name: str) -> str:
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is None:
            return mlflow.create_experiment(name, artifact_location=_artifact_root(uri))
    except Exception as exc:
        raise UserError(
            f"cannot reach the MLflow tracking store at {redact(uri)} ({type(exc).__name__}: {exc})"
        ) from None
    return experiment.experiment_id


def redact(uri: str) -> str:
    """A tracking URI may carry a password (https://user:pass@host): never print it."""
    parsed = urlparse(uri)
    if parsed.password:
        return uri.replace(parsed.password, "***")
    return uri


def git_commit(root: Path | None = None) -> str:
    """The commit being run: PADDY_EDGE_GIT_COMMIT (set for the smoke workspace, which has no git),
    else HEAD of the checkout at `root` (default: the current directory)."""
    if os.environ.get("PADDY_EDGE_GIT_COMMIT"):
        return os.environ["PADDY_EDGE_GIT_COMMIT"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ("torch", "torchvision", "timm", "fastai", "onnx", "onnxruntime", "mlflow", "dvc")
    tags = {f"version.{name}": version(name) for name in names}
    tags["version.python"] = platform.python_version()
    return tags


@contextmanager
def new_run(experiment: str, run_name: str) -> Iterator[Any]:
    """Start the pipeline's run; it ends FAILED if the block raises."""
    import mlflow

    experiment_id = use_experiment(experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags({"git.commit": git_commit(), TRAIN_RUN_TAG: run.info.run_id, **library_versions()})
        yield run


def run_id_from_train() -> str:
    info = paths.read_json(paths.RUN_INFO, "train")
    return info["run_id"]


TRAIN_RUN_TAG = "paddy_edge.train_run"


def _run_for(train_run_id: str, experiment_id: str) -> str:
    """The run to log into: train's own, or, when this store has never seen it (training restored from
    the DVC cache or a remote, a new or wiped store), one run that stands in for it, made once."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.get_run(train_run_id)
        return train_run_id
    except MlflowException:
        pass
    found = mlflow.search_runs(
        [experiment_id], filter_string=f"tags.`{TRAIN_RUN_TAG}` = '{train_run_id}'", output_format="list"
    )
    if found:
        return found[0].info.run_id
    run = mlflow.MlflowClient().create_run(
        experiment_id,
        tags={TRAIN_RUN_TAG: train_run_id, "paddy_edge.restored": "true", "git.commit": git_commit()},
    )
    print(
        f"MLflow run {train_run_id} (from {paths.RUN_INFO}) is not in {redact(tracking_uri())}: training "
        f"was restored from a cache; logging this model's stages into run {run.info.run_id}"
    )
    return run.info.run_id


@contextmanager
def resume_run(experiment: str) -> Iterator[Any]:
    """Reopen the run that train started, so this stage's metrics land beside the training's."""
    import mlflow

    experiment_id = use_experiment(experiment)
    with mlflow.start_run(run_id=_run_for(run_id_from_train(), experiment_id)) as run:
        yield run


def _pick(params: Params, keys: tuple[str, ...]) -> dict[str, Any]:
    """The values of `keys` ("train", "evaluate.resample", ...) of the validated params, flattened."""
    dumped = flatten(params.model_dump(mode="json"))
    return {
        name: value
        for name, value in dumped.items()
        if any(name == key or name.startswith(f"{key}.") for key in keys)
    }


def log_params(params: Params, *keys: str) -> None:
    """MLflow params, for what defines the trained model and never changes within its run."""
    import mlflow

    mlflow.log_params(_pick(params, keys))


def log_settings(params: Params, *keys: str) -> None:
    """`params.<key>` tags for a later stage's settings: the run shows the values of its latest rerun."""
    import mlflow

    mlflow.set_tags({f"params.{name}": str(value) for name, value in _pick(params, keys).items()})
