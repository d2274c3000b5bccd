"""Latency that a burst of load cannot pin on one format. Every format is timed by pytest-benchmark
(benchmarks/test_latency.py) in a worker process of its own (ONNX Runtime's spinning pool would starve
torch's threads in a shared one), and the workers take turns: one at a time times, the others wait on a
pipe. A pass gives every format one turn, in serpentine order (every other pass reversed), so eager and
the app's program, first in bench's order (formats.built_formats), are always timed back to back.

- A format's figure is its best pass's median, and the spread of its pass medians says how steady the
  machine was.
- Its ratio to eager is its fastest timed run over eager's fastest, both from the same rotation. Load
  only ever adds time, so the fastest run is the one load touched least. A ratio of medians is not:
  the serpentine puts a format's turns of two neighbouring passes back to back, and long bursts over
  lite's turns made the median of the per-pass ratios 24 for a model at 0.8 (CI: two test workers and
  a busy loop on each of 2 cores)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from paddy_edge.config import BenchParams
from paddy_edge.errors import UserError
from paddy_edge.runtime import outputs

BENCH_TESTS = Path("benchmarks/test_latency.py")
TURNS_ENV = "PADDY_EDGE_BENCH_TURNS"  # "<fd to read go from>,<fd to write ready/done to>"
READY, GO, DONE = b"r", b"g", b"d"
# Loading a model on a busy 2-core machine has taken a minute; a worker silent this long is stuck.
TURN_TIMEOUT_S = 900


@dataclass
class Worker:
    fmt: str
    process: subprocess.Popen
    go: int  # the parent writes GO here
    answers: int  # and reads READY and DONE here

    def expect(self, token: bytes) -> None:
        ready, _, _ = select.select([self.answers], [], [], TURN_TIMEOUT_S)
        got = os.read(self.answers, 1) if ready else None
        if got is None:
            raise UserError(f"the {self.fmt} benchmark gave no answer in {TURN_TIMEOUT_S} s: it is stuck")
        if got != token:  # b"": the worker ended (its pytest output above says why)
            self.process.wait()
            raise UserError(f"the {self.fmt} benchmark in {BENCH_TESTS} failed (see above)")

    def turn(self) -> None:
        """Time one pass; return once the worker is idle again, waiting for its next turn."""
        os.write(self.go, GO)
        self.expect(DONE)
        self.expect(READY)

    def close(self) -> None:
        for fd in (self.go, self.answers):
            os.close(fd)


def _start(fmt: str, passes: int, env: dict[str, str], folder: Path) -> Worker:
    go_read, go_write = os.pipe()
    answer_read, answer_write = os.pipe()
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(BENCH_TESTS),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",  # pytest-benchmark turns itself off where xdist is active
        f"--benchmark-json={folder / f'{fmt}.json'}",
        "--benchmark-columns=min,median,max,stddev,ops,rounds",
    ]
    own = {"PADDY_EDGE_BENCH_FORMATS": fmt, "PADDY_EDGE_BENCH_PASSES": str(passes)}
    own[TURNS_ENV] = f"{go_read},{answer_write}"
    try:
        process = subprocess.Popen(command, env=env | own, pass_fds=(go_read, answer_write))
    except BaseException:
        for fd in (go_read, go_write, answer_read, answer_write):
            os.close(fd)
        raise
    os.close(go_read)  # the worker's ends: a worker that dies then reads as end-of-file here
    os.close(answer_write)
    return Worker(fmt, process, go_write, answer_read)


def pass_order(formats: list[str], number: int) -> list[str]:
    """Serpentine: even passes in the given order, odd ones reversed, so neighbours stay neighbours."""
    return list(formats) if number % 2 == 0 else list(reversed(formats))


def measure(formats: list[str], settings: BenchParams, passes: int, target: Path) -> dict:
    """Time `formats` in `passes` rotations; write pytest-benchmark's merged JSON to `target` (atomically)
    and return it. Ctrl-C or a failed worker ends every worker before the error goes on."""
    # A pytest that runs the pipeline (the test suite, under xdist) or a user's PYTEST_ADDOPTS must not
    # reach the workers: xdist's variables alone made pytest-benchmark skip every timing.
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    env.update(
        PADDY_EDGE_BENCH_ROUNDS=str(settings.rounds),
        PADDY_EDGE_BENCH_WARMUP=str(settings.warmup_rounds),
        PADDY_EDGE_BENCH_THREADS=str(settings.threads),
    )
    workers: list[Worker] = []
    with outputs.atomic_file(target) as tmp:
        folder = tmp.parent  # atomic_file's own temporary folder, removed whatever happens
        # Ctrl-C is held while the workers start: one spawned but not yet in the list could not be ended.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            try:
                for fmt in formats:
                    workers.append(_start(fmt, passes, env, folder))
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
            for worker in workers:  # every model loaded: no worker still starting up during a turn
                worker.expect(READY)
            by_name = {worker.fmt: worker for worker in workers}
            for number in range(passes):
                for fmt in pass_order(formats, number):
                    by_name[fmt].turn()
            for worker in workers:  # all idle after their last pass: let them write their JSON and end
                os.write(worker.go, GO)
            for worker in workers:
                if worker.process.wait() != 0:
                    raise UserError(f"the {worker.fmt} benchmark in {BENCH_TESTS} failed (see above)")
            merged: dict = {}
            for fmt in formats:
                if not (folder / f"{fmt}.json").is_file():
                    raise UserError(
                        f"the {fmt} benchmark in {BENCH_TESTS} timed nothing: pytest-benchmark was turned "
                        "off (see its warning above)"
                    )
                result = outputs.read_json(folder / f"{fmt}.json", "bench")
                merged = merged or {**result, "benchmarks": []}
                merged["benchmarks"] += result["benchmarks"]
        finally:
            for worker in workers:
                if worker.process.poll() is None:
                    worker.process.kill()
                    worker.process.wait()
                worker.close()
        merged["timing"] = (
            f"{passes} passes in rotation, each format in its own process; figure: the best pass's median"
        )
        tmp.write_text(json.dumps(merged, indent=2) + "\n")
    return merged


def per_pass(raw: dict, stat: str = "median") -> dict[str, list[float]]:
    """pytest-benchmark's JSON -> {format: [`stat` ms of pass 1, pass 2, ...]}."""
    by_format: dict[str, dict[int, float]] = {}
    for bench in raw["benchmarks"]:
        info = bench["extra_info"]
        by_format.setdefault(info["format"], {})[int(info.get("pass", 1))] = bench["stats"][stat] * 1000
    return {fmt: [by_pass[number] for number in sorted(by_pass)] for fmt, by_pass in by_format.items()}


def figures(raw: dict) -> dict[str, dict[str, float]]:
    """{format: median_ms (best pass), spread_pct (slowest pass over the best), fastest_ms (its fastest
    run), ratio_to_eager (its fastest run over eager's, in the same rotation), passes}."""
    medians, fastest = per_pass(raw, "median"), per_pass(raw, "min")
    eager = fastest.get("eager")
    result = {}
    for fmt, ms in medians.items():
        best = min(ms)
        row = {"median_ms": round(best, 3), "spread_pct": round((max(ms) / best - 1) * 100, 1)}
        row["fastest_ms"] = round(min(fastest[fmt]), 3)
        if eager and len(eager) == len(ms):
            row["ratio_to_eager"] = round(min(fastest[fmt]) / min(eager), 3)
        row["passes"] = len(ms)
        result[fmt] = row
    return result


def pooled(*measurements: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The figures of eager and other formats from several rotations on this machine, taken as one: each
    format's fastest run and best pass over all of them. Load only adds time, so more runs bring each
    format nearer its cost; a verdict of the last rotation alone is flipped by load on eager's turns."""
    result = {}
    for fmt in measurements[-1]:
        rows = [measured[fmt] for measured in measurements]
        result[fmt] = {
            "median_ms": min(row["median_ms"] for row in rows),
            "fastest_ms": min(row["fastest_ms"] for row in rows),
            "passes": sum(row["passes"] for row in rows),
        }
    for row in result.values():
        row["ratio_to_eager"] = round(row["fastest_ms"] / result["eager"]["fastest_ms"], 3)
    return result


def measure_again(formats: list[str], settings: BenchParams, passes: int) -> dict[str, dict[str, float]]:
    """The figures of `formats` timed anew, for the gate: nothing is written outside a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="paddy-edge-bench-") as folder:
        return figures(measure(formats, settings, passes, Path(folder) / "benchmark.json"))
