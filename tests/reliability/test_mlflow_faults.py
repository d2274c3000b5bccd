"""MLflow faults, with real processes: a real `mlflow server` on a loopback port, real SQLite stores, stages
run as `python -m paddy_edge <stage>` in clones of the smoke workspace, a real SIGKILL, a real read-only
mount. What must hold: no password anywhere, one clear message instead of a traceback or a silent wait,
no run left RUNNING by a dead process, no store created by a stage started in the wrong folder."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from ..helpers import ROOT
from ..helpers.cli import cli, start_cli
from ..helpers.params import set_params
from ..helpers.pipeline import Pipeline
from ..helpers.servers import MlflowServer, free_port, start_mlflow_server

EXPERIMENT = "paddy-edge-smoke"  # profiles/smoke.yaml
PID_TAG, HOST_TAG = "paddy_edge.pid", "paddy_edge.host"  # the process that opened or resumed a run
HANG_GUARD_S = 300  # only so that a regression cannot hang the suite; no test measures time


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    running = start_mlflow_server(ROOT, tmp_path_factory.mktemp("mlflow_server"))
    try:
        yield running
    finally:
        running.kill()


def _says(needle: str, text: str) -> bool:
    """`needle` is in `text`, however the CLI wrapped the line (it may break inside a long path)."""
    return "".join(needle.split()) in "".join(text.split())


def _run(clone: Pipeline, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return cli(*args, cwd=clone.workspace, env=env or clone.env, timeout=HANG_GUARD_S)


def _files_holding(secret: str, *folders: Path) -> list[Path]:
    needle = secret.encode()
    return [
        path
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes()
    ]


def test_a_password_in_the_tracking_uri_reaches_no_output_file_or_database(
    pipeline: Pipeline, server: MlflowServer, tmp_path: Path
) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    # A short training, and a gate it passes: the run is registered on the server too.
    set_params(clone.workspace, train={"epochs": 2}, gates={"min_accuracy": 0.0, "max_accuracy_drop": 1.0})
    password = f"pw-{uuid.uuid4().hex}"
    env = {**clone.env, "MLFLOW_TRACKING_URI": f"http://alice:{password}@127.0.0.1:{server.port}"}
    env.pop("MLFLOW_TRACKING_USERNAME", None)
    env.pop("MLFLOW_TRACKING_PASSWORD", None)
    outputs = []
    for stage in ("train", "export", "evaluate", "gate"):
        result = _run(clone, stage, env=env)
        assert result.returncode == 0, f"{stage}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        outputs.append(result.stdout + result.stderr)
    everything = "\n".join(outputs)
    assert password not in everything
    assert f"http://alice:***@127.0.0.1:{server.port}" in everything  # says which server, no password
    # The stages did log there (the credentials reached MLflow another way than the URI).
    client = mlflow.MlflowClient(server.url)
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    assert any(r.data.tags.get("gate") == "passed" and "accuracy.executorch" in r.data.metrics for r in runs)
    assert not _files_holding(password, clone.workspace, server.folder)


def test_an_unreachable_server_fails_with_one_message_naming_it_without_the_password(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    password = f"pw-{uuid.uuid4().hex}"
    port = free_port()  # nothing listens there
    env = {**clone.env, "MLFLOW_TRACKING_URI": f"http://alice:{password}@127.0.0.1:{port}"}
    result = _run(clone, "gate", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert password not in output and "Traceback" not in output
    shown = f"http://alice:***@127.0.0.1:{port}"
    assert f"contacting the tracking server at {shown}" in result.stdout  # before the first call
    assert _says(f"cannot reach the MLflow tracking server at {shown} (connection refused)", result.stderr)


def _running_in_sqlite(database: Path) -> bool:
    """Read the store as SQLite, read-only: MLflow's client would create the tables train is creating."""
    if not database.exists():
        return False
    try:
        with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as store:
            return bool(store.execute("SELECT 1 FROM runs WHERE status = 'RUNNING'").fetchall())
    except sqlite3.Error:  # tables not made yet, or locked for a moment
        return False


def _runs(uri: str, status: str | None = None, experiment: str = EXPERIMENT) -> list:
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(experiment)
    if experiment is None:
        return []
    found = client.search_runs([experiment.experiment_id])
    return [run for run in found if status is None or run.info.status == status]


def test_a_run_left_running_by_kill_9_is_marked_killed_when_the_experiment_is_next_opened(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    training = start_cli(
        "train",
        cwd=clone.workspace,
        env=clone.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(HANG_GUARD_S * 4):
            if _running_in_sqlite(clone.workspace / "mlflow.db") or training.poll() is not None:
                break
            time.sleep(0.25)
    finally:
        os.killpg(training.pid, signal.SIGKILL)
        training.wait()
    (killed,) = _runs(clone.tracking_uri, "RUNNING")  # kill -9 leaves it RUNNING
    assert killed.data.tags[PID_TAG] == str(training.pid)
    # Two RUNNING runs that must be left alone: another host's, and a live process's on this host.
    client = mlflow.MlflowClient(clone.tracking_uri)
    experiment_id = killed.info.experiment_id
    elsewhere = client.create_run(
        experiment_id, tags={PID_TAG: str(training.pid), HOST_TAG: "another-host.example"}
    )
    alive = client.create_run(experiment_id, tags={PID_TAG: str(os.getpid()), HOST_TAG: platform.node()})

    result = _run(clone, "gate")  # any stage opening the experiment (train too) does it
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    assert f"MLflow run {killed.info.run_id} was left RUNNING by process {training.pid}" in result.stdout
    assert client.get_run(elsewhere.info.run_id).info.status == "RUNNING"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"


def _read_only_mounts_work() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount --bind /tmp /tmp && mount -o remount,bind,ro /tmp /tmp"],
        capture_output=True,
    )
    return probe.returncode == 0


def test_a_read_only_store_gets_one_message_naming_it(pipeline: Pipeline, tmp_path: Path) -> None:
    # We may run as root, whom chmod does not stop: a read-only bind mount in a user namespace does.
    if not _read_only_mounts_work():
        pytest.skip("no read-only mount possible here (needs `unshare -rm`, user namespaces)")
    clone = pipeline.clone(tmp_path / "ws")
    mlflow.MlflowClient(clone.tracking_uri).create_experiment(EXPERIMENT)  # an existing store
    database = clone.workspace / "mlflow.db"
    script = f'mount --bind "{database}" "{database}" && mount -o remount,bind,ro "{database}" "{database}"'
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f'{script} && exec "$0" -m paddy_edge gate', sys.executable],
        cwd=clone.workspace,
        env=clone.env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    store = clone.tracking_uri
    assert _says(f"the MLflow store {store} cannot be written (readonly database)", result.stderr)
    assert _says("or set MLFLOW_TRACKING_URI to a writable store", result.stderr)


def test_a_deleted_experiment_gets_one_message_saying_how_to_restore_it(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    experiment_id = mlflow.MlflowClient(clone.tracking_uri).create_experiment(EXPERIMENT)
    mlflow_cli = [sys.executable, "-m", "mlflow", "experiments"]
    deleted = clone.run(*mlflow_cli, "delete", "--experiment-id", experiment_id)
    assert deleted.returncode == 0, deleted.stderr

    result = _run(clone, "gate")
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert _says(f"the MLflow experiment '{EXPERIMENT}' (id {experiment_id})", result.stderr)
    assert _says(f"`mlflow experiments restore --experiment-id {experiment_id}`", result.stderr)

    # The advice works.
    restored = clone.run(*mlflow_cli, "restore", "--experiment-id", experiment_id)
    assert restored.returncode == 0, restored.stderr
    assert _run(clone, "gate").returncode == 0


@pytest.mark.parametrize("stage", ["export", "bench"])  # both open the run first
def test_a_stage_in_the_wrong_folder_creates_no_store(stage: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}  # the default store
    env["PYTHONPATH"] = str(ROOT / "src")
    result = cli(stage, "--params", str(ROOT / "params.yaml"), cwd=tmp_path, env=env, timeout=HANG_GUARD_S)
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "is missing" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no mlflow.db, no mlartifacts


OPEN_AND_LOG = """
import sys, time
from pathlib import Path
import mlflow
from paddy_edge.tracking import mlflow_runs
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.01)
with mlflow_runs.new_run("concurrent", run_name=sys.argv[2]):
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
"""


def test_stages_opening_one_new_sqlite_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Two `dvc exp` runs (or two smoke runs) start at once on a store that does not exist yet: MLflow
    creates and migrates a new SQLite database on first use, and processes doing that together
    collided ("No such index ...", a traceback from alembic). Four processes, released together."""
    database, go = tmp_path / "shared.db", tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env |= {"PYTHONPATH": str(ROOT / "src"), "MLFLOW_TRACKING_URI": f"sqlite:///{database}"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AND_LOG, str(go), f"run-{n}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    time.sleep(3)  # every process has imported MLflow and waits for the signal
    go.touch()
    outputs = [process.communicate(timeout=HANG_GUARD_S) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stdout[-2000:] + stderr[-3000:]
    runs = _runs(f"sqlite:///{database}", experiment="concurrent")
    assert sorted(r.info.run_name for r in runs) == [f"run-{n}" for n in range(4)]
    assert all(r.info.status == "FINISHED" and len(r.data.metrics) == 1 for r in runs)


@pytest.mark.parametrize(
    "content",
    [b"not a database at all\n" * 200, b"SQLite format 3\0" + bytes(range(256)) * 40],
    ids=["garbage", "a damaged SQLite file"],
)
def test_a_damaged_store_is_one_message_saying_how_to_start_a_new_one(
    pipeline: Pipeline, tmp_path: Path, content: bytes
) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    database = clone.workspace / "mlflow.db"
    database.write_bytes(content)
    result = _run(clone, "gate")
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3
    assert _says(f"the MLflow store {clone.tracking_uri} is not a readable SQLite database", result.stderr)
    assert _says(f"(mv {database} {database}.damaged)", result.stderr)


def test_a_store_in_a_missing_folder_on_a_read_only_filesystem_is_one_message(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """Two chained tracebacks before: FileNotFoundError from the store's lock file, then MLflow's
    OSError (Errno 30) making the folder."""
    if not _read_only_mounts_work():
        pytest.skip("no read-only mount possible here (needs `unshare -rm`, user namespaces)")
    clone = pipeline.clone(tmp_path / "ws")
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    store = f"sqlite:///{frozen}/missing/mlflow.db"
    script = f'mount --bind "{frozen}" "{frozen}" && mount -o remount,bind,ro "{frozen}" "{frozen}"'
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f'{script} && exec "$0" -m paddy_edge gate', sys.executable],
        cwd=clone.workspace,
        env=clone.env | {"MLFLOW_TRACKING_URI": store},
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert _says(f"the MLflow store {store} cannot be written (Read-only file system)", result.stderr)
