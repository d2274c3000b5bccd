"""`make load-test`: locust against a real `make serve` of the champion, for two seconds with two clients.
The report's structure, that requests were answered and none failed; never how fast (that is a figure
for people, README: Serving)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ..helpers import ROOT
from ..helpers.cli import cli
from ..helpers.servers import ModelServer, free_port


def test_two_clients_for_two_seconds_get_answers_and_no_error(server: ModelServer, tmp_path: Path) -> None:
    report_file = tmp_path / "load" / "load_test.json"
    port = server.url.rsplit(":", 1)[1]
    done = subprocess.run(
        [
            *("make", "-C", str(ROOT), "-o", "setup", "load-test", f"SERVE_PORT={port}"),
            *("LOAD_USERS=2", "LOAD_SECONDS=2", f"LOAD_REPORT={report_file}"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_file.read_text())
    assert set(report) == {
        *("tool", "url", "endpoint", "users", "seconds", "requests", "errors"),
        *("requests_per_s", "latency_ms", "failures", "files"),
    }
    assert report["tool"] == "locust 2.47.0" and report["url"] == server.url
    assert (report["users"], report["seconds"], report["endpoint"]) == (2, 2, "/invocations")
    assert report["requests"] > 0 and report["requests_per_s"] > 0
    assert report["errors"] == 0 and report["failures"] == []
    assert set(report["latency_ms"]) == {"p50", "p95", "p99", "mean", "max"}
    assert all(isinstance(value, float) for value in report["latency_ms"].values())
    assert Path(report["files"]["csv"]).is_file() and Path(report["files"]["html"]).is_file()
    assert "2 clients for 2 s" in done.stdout and "p99 ms" in done.stdout


def _load_test(*args: str) -> subprocess.CompletedProcess:
    return cli("load-test", *args, timeout=120)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "start it with make serve (another terminal)"),  # nothing listens on the port
        (("--url", "http://10.1.2.3:5001"), "the load test runs only against http://127.0.0.1:<port>"),
        (("--users", "65"), "--users 65: give 1 to 64 concurrent clients"),
        (("--seconds", "0"), "--seconds 0: give 1 to 600 seconds"),
    ],
)
def test_no_server_another_host_or_unbounded_runs_are_one_line_and_run_nothing(
    args: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    out = tmp_path / "load_test.json"
    done = _load_test("--url", f"http://127.0.0.1:{free_port()}", "--out", str(out), *args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr
    assert not out.exists()


def test_a_failed_locust_run_writes_nothing_and_no_earlier_file_stands_in(
    server: ModelServer, tmp_path: Path
) -> None:
    """A locustfile that cannot start (here: a seed that is no number) exits 1 without stats; an earlier
    run's CSV with the same name must not become this run's report."""
    stale = tmp_path / "load_test_stats.csv"
    stale.write_text(
        "Type,Name,Request Count,Failure Count,Requests/s,Average Response Time,Max Response Time,"
        "50%,95%,99%\n,Aggregated,999,0,99.0,10,20,10,15,19\n"
    )
    (tmp_path / "load_test_failures.csv").write_text("Method,Name,Error,Occurrences\n")
    before = stale.read_text()
    out = tmp_path / "load_test.json"
    done = cli(
        *("load-test", "--url", server.url, "--seconds", "1", "--out", str(out)),
        timeout=300,
        env={**os.environ, "PADDY_EDGE_LOAD_SEED": "not-a-number"},
    )
    assert done.returncode == 2 and "locust failed" in done.stderr, done.stdout + done.stderr
    assert "Traceback" not in done.stdout and not out.exists()
    assert stale.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["load_test_failures.csv", "load_test_stats.csv"]


def test_the_files_land_together_and_no_scratch_is_left(server: ModelServer, tmp_path: Path) -> None:
    out = tmp_path / "load_test.json"
    done = _load_test("--url", server.url, "--users", "2", "--seconds", "3", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    names = {p.name for p in tmp_path.iterdir()}
    assert {"load_test.json", "load_test_stats.csv", "load_test.html"} <= names
    assert not [n for n in names if n.startswith(".load-test-")]
    report = json.loads(out.read_text())
    assert report["files"]["csv"] == str(tmp_path / "load_test_stats.csv") and report["requests"] > 0
