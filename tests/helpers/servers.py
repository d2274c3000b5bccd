"""Real servers that tests start on 127.0.0.1 (MLflow through `make mlflow-server`, moto's S3): a free
port, and waiting until the server answers, failing with its log when it exits or never answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

START_GUARD_S = 300  # only so that a server that never answers cannot hang the suite; nothing is timed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answers(url: str, process: subprocess.Popen, log: Path, what: str) -> None:
    """Return once `url` answers; pytest.fail with the end of `log` if `process` exits first or it never
    answers. Any HTTP answer counts: the server is up."""
    deadline = time.monotonic() + START_GUARD_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{what} did not answer {url}:\n{log.read_text()[-3000:]}")


@dataclass
class MlflowServer:
    url: str  # without credentials
    port: int
    folder: Path  # MLFLOW_SERVER_DIR: mlflow.db, artifacts/ and the server's log
    process: subprocess.Popen

    def kill(self) -> None:
        """SIGKILL make, mlflow and its uvicorn worker: a server that vanishes, no goodbye."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def start_mlflow_server(root: Path, folder: Path) -> MlflowServer:
    """`make mlflow-server` as a user runs it (its `setup` prerequisite is the venv the tests run in)."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        *("make", "-C", str(root), "-o", "setup", "mlflow-server"),
        *(f"MLFLOW_PORT={port}", f"MLFLOW_SERVER_DIR={folder}"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    log = folder / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = MlflowServer(f"http://127.0.0.1:{port}", port, folder, process)
    try:
        wait_until_answers(f"{server.url}/health", process, log, "make mlflow-server")
    except BaseException:
        server.kill()
        raise
    return server


@dataclass
class ModelServer:
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        """SIGTERM to make and mlflow's uvicorn workers; SIGKILL if they do not go."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def start_model_server(
    root: Path, env: dict[str, str], name: str, log: Path, workers: int = 1, *settings: str
) -> ModelServer:
    """`make serve` as a user runs it, on a free port: the model `name`@champion of the store that
    env's MLFLOW_TRACKING_URI names, with more make `settings` (NAME=value). Returns once /ping answers."""
    port = free_port()
    command = [
        *("make", "-C", str(root), "-o", "setup", "serve"),
        *(f"MODEL_NAME={name}", f"SERVE_PORT={port}", f"SERVE_WORKERS={workers}", *settings),
    ]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = ModelServer(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_answers(f"{server.url}/ping", process, log, "make serve")
    except BaseException:
        server.stop()
        raise
    return server
