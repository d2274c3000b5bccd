"""`make load-test`: N concurrent clients for T seconds against the served model (`make serve`), with
locust in headless mode (locustfile.py: each client posts a photo to /invocations, then the next).

Reports requests/s, latency percentiles (p50, p95, p99: locust's, from its CSV; it rounds times over
100 ms to two significant digits) and errors: a table, a JSON report, and locust's own CSV and HTML
files beside it. Bounded: at most MAX_USERS clients, MAX_SECONDS seconds, and only on 127.0.0.1. A run
with any error exits 1. The figures are for people to read; no test asserts a time."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

from paddy_edge.errors import UserError

DEFAULT_URL = "http://127.0.0.1:5001"
DEFAULT_OUT = Path("reports/load_test.json")
MAX_USERS = 64
MAX_SECONDS = 600
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PERCENTILES = {"p50": "50%", "p95": "95%", "p99": "99%"}
# The run's seconds count from the first answer (locustfile.py): locust's own -t counts from its start, and
# on a busy machine its start-up and the first request took all of a 2 s run. A server that answers nothing
# in FIRST_ANSWER_S seconds more is called stuck.
WINDOW_ENV = "PADDY_EDGE_LOAD_SECONDS"
FIRST_ANSWER_S = 60


def check_target(url: str) -> None:
    """Only a server on 127.0.0.1 that answers /ping; otherwise one line that says what to do."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1" or not parts.port:
        raise UserError(
            f"--url {url}: the load test runs only against http://127.0.0.1:<port> (this machine)"
        )
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=5) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        raise UserError(
            f"the model server at {url} answers /ping with HTTP {exc.code}: is it `make serve`?"
        ) from None
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(
            f"no model server answers at {url} ({reason}): start it with make serve (another terminal)"
        ) from None


def check_bounds(users: int, seconds: int) -> None:
    if not 1 <= users <= MAX_USERS:
        raise UserError(f"--users {users}: give 1 to {MAX_USERS} concurrent clients")
    if not 1 <= seconds <= MAX_SECONDS:
        raise UserError(f"--seconds {seconds}: give 1 to {MAX_SECONDS} seconds")


def _number(text: str) -> float | None:
    return None if text in ("", "N/A") else float(text)


def summarize(csv_prefix: Path, url: str, users: int, seconds: int) -> dict:
    """The report, from locust's `<prefix>_stats.csv` (its Aggregated row) and `<prefix>_failures.csv`."""
    with Path(f"{csv_prefix}_stats.csv").open(newline="") as rows:
        total = next(row for row in csv.DictReader(rows) if row["Name"] == "Aggregated")
    with Path(f"{csv_prefix}_failures.csv").open(newline="") as rows:
        failures = [{"error": row["Error"], "count": int(row["Occurrences"])} for row in csv.DictReader(rows)]
    requests = int(total["Request Count"])
    return {
        "tool": f"locust {version('locust')}",
        "url": url,
        "endpoint": "/invocations",
        "users": users,
        "seconds": seconds,
        "requests": requests,
        "errors": int(total["Failure Count"]),
        "requests_per_s": round(float(total["Requests/s"]), 2),
        "latency_ms": {
            **{name: _number(total[column]) for name, column in PERCENTILES.items()},
            "mean": round(float(total["Average Response Time"]), 2) if requests else None,
            "max": round(float(total["Max Response Time"]), 2) if requests else None,
        },
        "failures": failures,
        "files": {"csv": f"{csv_prefix}_stats.csv", "html": f"{csv_prefix}.html"},
    }


def run_locust(url: str, users: int, seconds: int, csv_prefix: Path) -> subprocess.CompletedProcess:
    """locust into `csv_prefix` (a new folder's: no file of an earlier run can stand in for this one's)."""
    # `seconds` of load from the first answer (locustfile.py); -t only ends a run no answer ever came to
    command = [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"),
        *("-u", str(users), "-r", str(users), "-t", f"{seconds + FIRST_ANSWER_S}s", "--host", url),
        *("--csv", str(csv_prefix), "--html", f"{csv_prefix}.html", "--only-summary"),
        *("--stop-timeout", "10", "--loglevel", "WARNING"),
    ]
    guard = seconds + FIRST_ANSWER_S + 120
    env = {**os.environ, WINDOW_ENV: str(seconds)}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=guard, env=env)
    except subprocess.TimeoutExpired:
        raise UserError(
            f"locust did not finish within {guard} s of a {seconds} s run: nothing was written"
        ) from None
    # locust exits 1 when a request failed: the report says which; anything else is locust's own failure
    if done.returncode not in (0, 1) or not Path(f"{csv_prefix}_stats.csv").is_file():
        raise UserError(f"locust failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    return done


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    latency = report["latency_ms"]
    table = Table(
        title=f"{report['users']} clients for {report['seconds']} s: POST {report['url']}/invocations"
    )
    for column in ("requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "mean ms", "max ms", "errors"):
        table.add_column(column, justify="right")
    table.add_row(
        str(report["requests"]),
        f"{report['requests_per_s']:.1f}",
        *(f"{latency[key]:g}" if latency[key] is not None else "-" for key in (*PERCENTILES, "mean", "max")),
        str(report["errors"]),
        style="red" if report["errors"] else None,
    )
    Console().print(table)
    for failure in report["failures"]:
        Console(stderr=True).print(f"[red]{failure['count']}x[/] {failure['error']}", highlight=False)


def load_test(url: str = DEFAULT_URL, users: int = 4, seconds: int = 20, out: Path = DEFAULT_OUT) -> dict:
    """Run it, write `out` (JSON) and locust's files beside it, print the table; returns the report. The
    files are written in a new folder and moved into place only when locust finished and was read."""
    url = url.rstrip("/")
    check_bounds(users, seconds)
    check_target(url)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".load-test-", dir=out.parent) as scratch:
        prefix = Path(scratch) / out.stem
        run_locust(url, users, seconds, prefix)
        report = summarize(prefix, url, users, seconds)
        final = out.with_suffix("")
        report["files"] = {"csv": f"{final}_stats.csv", "html": f"{final}.html"}
        for made in sorted(Path(scratch).iterdir()):
            made.replace(out.parent / made.name)
        written = Path(scratch) / out.name  # last, once the files it names are in place
        written.write_text(json.dumps(report, indent=2) + "\n")
        written.replace(out)
    print_table(report)
    print(f"report: {out}; locust's: {report['files']['csv']}, {report['files']['html']}")
    if not report["requests"]:
        waited = seconds + FIRST_ANSWER_S
        raise UserError(f"no request was answered in {waited} s: is the model server at {url} stuck?")
    return report
