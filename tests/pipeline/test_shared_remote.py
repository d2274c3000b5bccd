"""A shared DVC remote on a real S3-compatible server: moto's, as a subprocess on 127.0.0.1.

`make remote-s3` points a copy of the pipeline's workspace at the bucket and `make push-cache` sends the
data, the models and the run-cache there. A second workspace that holds only what a checkout of the
commit holds (the code, params.yaml, dvc.lock, .dvc/config and the small reports/ git tracks; no DVC
cache, no data, no models: a new machine, or CI) runs `make pull-cache`, and `dvc repro` then runs no
stage. The fake credentials live only in the subprocesses' environments, never in .dvc/config or in what
make and dvc print."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml

from paddy_edge.smoke import workspace_env

from ..helpers import ROOT
from ..helpers.pipeline import Pipeline
from ..helpers.servers import free_port, wait_until_answers
from .test_dvc_repro import STAGES

BUCKET = "paddy-edge-shared"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "paddy-edge-test-key-id",
    "AWS_SECRET_ACCESS_KEY": "fake-aws-secret-never-written-9f3c",
    "AWS_DEFAULT_REGION": "us-east-1",
}
SECRET = FAKE_AWS["AWS_SECRET_ACCESS_KEY"]
USAGE = "usage: make remote-s3 URL=s3://bucket/path [ENDPOINT=http://host:port]"


def aws_env(base: dict[str, str]) -> dict[str, str]:
    """`base` with the fake credentials and nothing else of the AWS chain (no profile, no endpoint
    override from the developer's shell)."""
    return {k: v for k, v in base.items() if not k.startswith("AWS_")} | FAKE_AWS


def make(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The repository's Makefile, run for real in `cwd`. VENV is this interpreter's venv, relative (the
    Makefile puts $(CURDIR)/$(VENV)/bin on PATH), and `-o` tells make its install stamp is as it is, so
    `setup` does not rebuild the venv: the target's own recipe runs, nothing else."""
    venv = os.path.relpath(sys.prefix, cwd)
    command = ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), f"VENV={venv}"]
    return run([*command, "-o", f"{venv}/.installed", *args], cwd, env)


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


def dvc(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], cwd, env)


def project_config(cwd: Path, env: dict[str, str]) -> set[str]:
    listing = dvc(cwd, env, "config", "--list", "--project")
    assert listing.returncode == 0, listing.stderr
    return set(listing.stdout.splitlines())


@pytest.fixture
def s3_endpoint(tmp_path: Path) -> Iterator[str]:
    """A moto S3 server on a free port of 127.0.0.1 with an empty bucket; killed after the test."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path / "moto.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_answers(endpoint, server, log, "moto server")
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def s3_client(endpoint: str):
    """A client with the fake credentials passed in, not through this process's environment."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=SECRET,
        region_name=FAKE_AWS["AWS_DEFAULT_REGION"],
    )


def lock_outputs(workspace: Path) -> dict[str, bytes]:
    """Every file of every stage output that dvc.lock records (cached or not), by path."""
    lock = yaml.safe_load((workspace / "dvc.lock").read_text())
    files: dict[str, bytes] = {}
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            path = workspace / out["path"]
            for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
                if file.is_file():
                    files[file.relative_to(workspace).as_posix()] = file.read_bytes()
    return files


def uncached_outputs(workspace: Path) -> list[str]:
    """The outputs dvc.yaml marks `cache: false` (reports/: git tracks them, DVC does not store them)."""
    stages = yaml.safe_load((workspace / "dvc.yaml").read_text())["stages"]
    return [
        path
        for stage in stages.values()
        for kind in ("outs", "metrics", "plots")
        for entry in stage.get(kind, [])
        if isinstance(entry, dict)
        for path, options in entry.items()
        if (options or {}).get("cache") is False
    ]


def mlflow_runs(tracking_db: Path) -> int:
    if not tracking_db.exists():
        return 0
    with sqlite3.connect(tracking_db) as db:
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_a_second_checkout_pulls_from_the_shared_remote_and_runs_no_stage(
    pipeline: Pipeline, s3_endpoint: str, tmp_path: Path
) -> None:
    first = pipeline.clone(tmp_path / "first", dvc_cache=True)
    env = aws_env(first.env)
    url = f"s3://{BUCKET}/paddy"

    configure = make(first.workspace, env, "remote-s3", f"URL={url}", f"ENDPOINT={s3_endpoint}")
    assert configure.returncode == 0, configure.stdout + configure.stderr
    assert {"core.remote=storage", f"remote.storage.url={url}"} <= project_config(first.workspace, env)

    started = time.perf_counter()
    push = make(first.workspace, env, "push-cache")
    push_s = time.perf_counter() - started
    assert push.returncode == 0, push.stdout[-4000:] + push.stderr[-4000:]
    keys = {
        obj["Key"]
        for page in s3_client(s3_endpoint).get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for obj in page.get("Contents", [])
    }
    lock = yaml.safe_load((first.workspace / "dvc.lock").read_text())
    cached = [out for stage in lock["stages"].values() for out in stage.get("outs", [])]
    cached = [out for out in cached if out["path"] not in uncached_outputs(first.workspace)]
    # data, models, the data report and pytest-benchmark's raw JSON (outputs, not metrics: DVC stores
    # them, and bench keeps its run-cache entry), each in the remote
    expected = {"data/raw", "data/prepared", "models/trained", "models/export"}
    expected |= {"reports/data_report.json", "reports/benchmark.json"}
    assert {out["path"] for out in cached} == expected
    for out in cached:  # each in the remote under its hash
        assert f"paddy/files/md5/{out['md5'][:2]}/{out['md5'][2:]}" in keys, out["path"]
    runs = sorted(
        path.relative_to(first.workspace / ".dvc/cache").as_posix()
        for path in (first.workspace / ".dvc/cache/runs").rglob("*")
        if path.is_file()
    )
    assert runs and {f"paddy/{run}" for run in runs} <= keys  # the run-cache went too

    # The second machine has the commit: the project's files, params.yaml, dvc.lock, .dvc/config (the
    # remote) and the outputs DVC does not cache, which git tracks (reports/); no .dvc/cache, data/ or
    # models/. Why the commit's reports/ and not the run-cache alone: DVC 3.67 pushes and pulls the
    # run-cache's entries but not the stored copies of `cache: false` outputs they name, so a workspace
    # without reports/ would run prepare, train, evaluate, bench and gate again.
    second = tmp_path / "second"
    listed = (first.workspace / ".paddy-edge-files").read_text().splitlines()
    for name in [*listed, "params.yaml", "dvc.lock", ".dvc/config", *uncached_outputs(first.workspace)]:
        target = second / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((first.workspace / name).read_bytes())
    assert not any((second / name).exists() for name in (".dvc/cache", "data", "models"))
    tracking_db = tmp_path / "second-mlflow.db"
    second_env = aws_env(workspace_env(ROOT, second)) | {"MLFLOW_TRACKING_URI": f"sqlite:///{tracking_db}"}

    started = time.perf_counter()
    pull = make(second, second_env, "pull-cache")
    pull_s = time.perf_counter() - started
    assert pull.returncode == 0, pull.stdout[-4000:] + pull.stderr[-4000:]
    assert (
        sorted(
            path.relative_to(second / ".dvc/cache").as_posix()
            for path in (second / ".dvc/cache/runs").rglob("*")
            if path.is_file()
        )
        == runs
    )

    started = time.perf_counter()
    repro = dvc(second, second_env, "repro")
    repro_s = time.perf_counter() - started
    assert repro.returncode == 0, repro.stdout[-4000:] + repro.stderr[-4000:]
    print(f"\nshared remote on moto: push {push_s:.1f} s, pull {pull_s:.1f} s, repro {repro_s:.1f} s")

    # No stage ran: dvc prints "Running stage" before any command it runs and names each stage it
    # skips; and nothing wrote to the second machine's own MLflow store (train, export, evaluate, bench
    # and gate each log to a run there when they run).
    assert "Running stage" not in repro.stdout
    for stage in ("check-params", *STAGES):
        assert f"Stage '{stage}' didn't change, skipping" in repro.stdout
    assert "Data and pipelines are up to date." in repro.stdout
    assert mlflow_runs(tracking_db) == 0

    # What the second machine has is what the first one made, byte for byte: every output in the lock
    # (reports/*.json among them), and the lock itself.
    assert (second / "dvc.lock").read_bytes() == (first.workspace / "dvc.lock").read_bytes()
    assert lock_outputs(second) == lock_outputs(first.workspace)
    # (the reports dvc.yaml declares: other tests write more reports into the shared pipeline workspace)
    metrics = sorted(Path(path).name for path in uncached_outputs(first.workspace) if path.endswith(".json"))
    assert {"eval.json", "gate.json", "train_metrics.json"} <= set(metrics)
    for name in metrics:
        assert (second / "reports" / name).read_bytes() == (first.workspace / "reports" / name).read_bytes()
    assert json.loads((second / "reports/gate.json").read_text())["passed"] is True

    for config in (first.workspace / ".dvc/config", second / ".dvc/config"):
        text = config.read_text()
        assert SECRET not in text and FAKE_AWS["AWS_ACCESS_KEY_ID"] not in text
    for result in (configure, push, pull, repro):
        assert SECRET not in result.stdout + result.stderr


def test_remote_s3_needs_an_s3_url_and_writes_only_the_remote(tmp_path: Path) -> None:
    env = aws_env(workspace_env(ROOT, tmp_path))
    assert dvc(tmp_path, env, "init", "--no-scm", "-q").returncode == 0
    before = project_config(tmp_path, env)
    config_before = (tmp_path / ".dvc/config").read_bytes()

    for bad in ([], ["URL="], ["URL=/tmp/not-a-bucket"], ["ENDPOINT=http://127.0.0.1:9000"]):
        refused = make(tmp_path, env, "remote-s3", *bad)
        assert refused.returncode != 0, bad
        assert refused.stdout == "" and len(refused.stderr.splitlines()) == 1, refused.stderr
        assert USAGE in refused.stderr
        assert (tmp_path / ".dvc/config").read_bytes() == config_before

    url, endpoint = "s3://team-bucket/paddy-edge", "http://127.0.0.1:9000"
    added = make(tmp_path, env, "remote-s3", f"URL={url}", f"ENDPOINT={endpoint}")
    assert added.returncode == 0, added.stderr
    remote = {"core.remote=storage", f"remote.storage.url={url}"}
    assert project_config(tmp_path, env) == before | remote | {f"remote.storage.endpointurl={endpoint}"}

    # Again without ENDPOINT (AWS S3 itself): the remote is replaced whole, the old endpoint goes.
    plain = make(tmp_path, env, "remote-s3", f"URL={url}")
    assert plain.returncode == 0, plain.stderr
    assert project_config(tmp_path, env) == before | remote

    text = (tmp_path / ".dvc/config").read_text()
    assert SECRET not in text and FAKE_AWS["AWS_ACCESS_KEY_ID"] not in text
    for result in (added, plain):
        assert SECRET not in result.stdout + result.stderr


def test_remote_s3_refuses_credentials_in_the_url_and_never_repeats_them(tmp_path: Path) -> None:
    """A key in the URL would be echoed and written to the git-tracked .dvc/config (DVC never reads it)."""
    env = aws_env(workspace_env(ROOT, tmp_path))
    assert dvc(tmp_path, env, "init", "--no-scm", "-q").returncode == 0
    config_before = (tmp_path / ".dvc/config").read_bytes()
    for url in (
        f"s3://AKIAEXAMPLE:{SECRET}@bucket/dvc",
        f"s3://bucket/dvc?aws_secret_access_key={SECRET}",
        f"s3://{SECRET}@bucket/dvc",
    ):
        refused = make(tmp_path, env, "remote-s3", f"URL={url}", "ENDPOINT=http://127.0.0.1:9")
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0, url
        assert SECRET not in output and "AKIAEXAMPLE" not in output, output
        assert "error: the DVC remote's URL s3://" in refused.stderr and "bucket/dvc" in refused.stderr
        assert "dvc remote modify --local storage" in refused.stderr and "config.local" in refused.stderr
        assert (tmp_path / ".dvc/config").read_bytes() == config_before
