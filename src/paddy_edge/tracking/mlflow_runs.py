"""MLflow: one run per trained model. train opens it; every later stage logs into the same run.

The default store is a local SQLite file (no server); MLFLOW_TRACKING_URI points at a server instead.
Only params.yaml values, metrics and files are logged: never the environment (it may hold secrets).
Each stage logs the params it reads: train the ones that make the model (as MLflow params, which are
immutable), the later stages theirs as `params.*` tags, because they may rerun on the same model with
other values (a new gate threshold reruns only the gate).

MLflow never sees a password (tracking_uri.py). Every run records the process that opened or resumed
it, so that a stage opening the experiment can mark runs left RUNNING by a killed process as KILLED.
An MLflow failure ends a stage with one message (UserError) that names the store, never a traceback."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import platform
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from paddy_edge import paths
from paddy_edge.config import Params, flatten
from paddy_edge.errors import GatesFailed, UserError
from paddy_edge.runtime import outputs
from paddy_edge.runtime.orphans import proc_stat
from paddy_edge.tracking.store_uri import connect, is_remote, shown_uri, user_error

TRAIN_RUN_TAG = "paddy_edge.train_run"
PID_TAG, PID_START_TAG, HOST_TAG = "paddy_edge.pid", "paddy_edge.pid_start", "paddy_edge.host"


def tracking_uri() -> str:
    """The store, fit to print (no password)."""
    return shown_uri()


def _artifact_root(uri: str) -> str | None:
    """For a local SQLite store, keep artifacts in `mlartifacts/` beside the database file."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    return (database.resolve().parent / "mlartifacts").as_uri()


def _without_logged_traceback(record: logging.LogRecord) -> bool:
    """MLflow's SQL store logs a database error's traceback, then raises it: our message says it once."""
    return not (record.exc_info and str(record.msg).startswith("SQLAlchemy database error"))


@contextmanager
def mlflow_errors() -> Iterator[None]:
    """Turn what MLflow (or its HTTP client) raises into a UserError without secrets."""
    import requests
    from mlflow.exceptions import MlflowException

    logging.getLogger("mlflow.store.db.utils").addFilter(_without_logged_traceback)  # once: a set
    try:
        yield
    except (MlflowException, requests.RequestException) as exc:
        raise user_error(exc) from None
    except Exception as exc:
        if not _a_store_failure(exc):
            raise
        raise user_error(exc) from None


def _a_store_failure(exc: BaseException) -> bool:
    """Whether `exc` comes from the store itself, by its cause and not only its class: SQLite and
    SQLAlchemy (a file that is not a database, a malformed one), or the filesystem under it (a folder that
    cannot be made). A full disk keeps its own message (cli.py)."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, SQLAlchemyError | sqlite3.Error):
            return True
        names = (exc.filename, exc.filename2) if isinstance(exc, OSError) else ()
        # a stage's own files keep their own errors, and a full disk its own message
        if any(_in_store(name) for name in names if name) and exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _in_store(name: str | bytes) -> bool:
    """Whether a path an OSError names is the local store's database, its journal or lock, or a folder on
    the way to it (MLflow makes the folder)."""
    uri = tracking_uri()
    if not uri.startswith("sqlite:///"):
        return False
    database = Path(uri.removeprefix("sqlite:///")).absolute()
    path = Path(os.fsdecode(name)).absolute()
    beside = path.parent == database.parent and path.name.lstrip(".").startswith(database.name)
    return beside or path in database.parents


@contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """One process at a time opens a local SQLite store: MLflow creates and migrates a new database
    on first use, and two stages doing that at once (two `dvc exp` runs, two smoke runs) collide
    ("No such index", "table already exists"), as do two creating the same experiment. A lock file
    beside the database serializes the opening; logging afterwards is SQLite's own business."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    database = Path(uri.removeprefix("sqlite:///"))
    try:
        handle = open(database.with_name(f".{database.name}.lock"), "a")  # noqa: SIM115
    except OSError:  # no folder, or a read-only one: MLflow's own error names the store
        handle = None
    if handle is None:  # outside the except: MLflow's error must not chain onto the lock's
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def use_experiment(name: str) -> str:
    """Point MLflow at the store, find or create the experiment, and end its runs left by dead processes."""
    import mlflow

    uri = connect()
    if is_remote(uri):
        print(f"MLflow: contacting the tracking server at {tracking_uri()} (experiment {name})", flush=True)
    mlflow.set_tracking_uri(uri)
    with mlflow_errors(), _store_lock(uri):
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is None:
            return mlflow.create_experiment(name, artifact_location=_artifact_root(uri))
        if experiment.lifecycle_stage == "deleted":
            raise UserError(
                f"the MLflow experiment '{name}' (id {experiment.experiment_id}) in {tracking_uri()} is "
                f"deleted: restore it with `mlflow experiments restore --experiment-id "
                f"{experiment.experiment_id}` (MLFLOW_TRACKING_URI set to that store), or choose another "
                "mlflow.experiment in params.yaml"
            )
        _end_dead_runs(experiment.experiment_id)
    return experiment.experiment_id


def _process_start(pid: int) -> str | None:
    """The start time of live process `pid` (Linux: /proc; "" where unknown), None if it is gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    fields = proc_stat(pid)
    if fields is None:
        return ""
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie is dead; field 22 is starttime


def _this_process() -> dict[str, str]:
    return {
        PID_TAG: str(os.getpid()),
        PID_START_TAG: _process_start(os.getpid()) or "",
        HOST_TAG: platform.node(),
    }


def _end_dead_runs(experiment_id: str) -> None:
    """kill -9 (or a power cut) leaves a run RUNNING for ever: mark KILLED the experiment's RUNNING runs
    whose recorded process on this host is gone. Other hosts' runs, and untagged ones, are left alone."""
    from mlflow import MlflowClient

    client = MlflowClient()
    host = platform.node()
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        if tags.get(HOST_TAG) != host or not tags.get(PID_TAG, "").isdigit():
            continue
        started, recorded = _process_start(int(tags[PID_TAG])), tags.get(PID_START_TAG, "")
        if started is None or (started and recorded and started != recorded):  # gone, or its pid reused
            client.set_terminated(run.info.run_id, status="KILLED")
            print(
                f"MLflow run {run.info.run_id} was left RUNNING by process {tags[PID_TAG]} on {host}, "
                "which no longer runs: marked KILLED"
            )


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

    with mlflow_errors():
        experiment_id = use_experiment(experiment)
        tags = {"git.commit": git_commit(), **library_versions(), **_this_process()}
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
            mlflow.set_tag(TRAIN_RUN_TAG, run.info.run_id)
            yield run


def run_id_from_train() -> str:
    info = outputs.read_json(paths.RUN_INFO, "train")
    return info["run_id"]


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
    tags = {TRAIN_RUN_TAG: train_run_id, "paddy_edge.restored": "true", "git.commit": git_commit()}
    run = mlflow.MlflowClient().create_run(experiment_id, tags=tags | _this_process())
    print(
        f"MLflow run {train_run_id} (from {paths.RUN_INFO}) is not in {tracking_uri()}: training "
        f"was restored from a cache; logging this model's stages into run {run.info.run_id}"
    )
    return run.info.run_id


FAILED_TAG = "paddy_edge.failed.{stage}"


@contextmanager
def resume_run(experiment: str, stage: str) -> Iterator[Any]:
    """Reopen the run that train started, so this stage's metrics land beside the training's. Train's
    run file is read first: a stage started in the wrong folder stops there, before creating a store.

    A run the gate has judged keeps its status (its verdict) when a rerun of export, evaluate, bench or
    the gate itself fails or is interrupted: stages write nothing until they succeed, so the judged
    model is still the one on disk. Only a new verdict (a gate that fails) changes it. The failure is
    recorded in a tag instead, removed by the stage's next success."""
    import mlflow

    train_run_id = run_id_from_train()
    with mlflow_errors():
        experiment_id = use_experiment(experiment)
        run_id = _run_for(train_run_id, experiment_id)
        before = mlflow.get_run(run_id)
        judged = "gate" in before.data.tags
        failed_tag = FAILED_TAG.format(stage=stage)
        with mlflow.start_run(run_id=run_id, tags=_this_process()) as run:
            try:
                yield run
            except BaseException as exc:
                if judged and not isinstance(exc, GatesFailed):
                    what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                    mlflow.set_tag(failed_tag, what)
                    mlflow.end_run(before.info.status)
                raise
            if failed_tag in before.data.tags:
                mlflow.MlflowClient().delete_tag(run_id, failed_tag)


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
