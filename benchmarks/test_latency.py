"""Batch-1 latency of each model format, measured by pytest-benchmark. The bench stage runs this file once
per format, each in its own process (PADDY_EDGE_BENCH_FORMATS names it: ONNX Runtime's thread pool spins
after a run and starves torch's threads in the same process), all at once, and hands them turns through
two pipes (PADDY_EDGE_BENCH_TURNS, src/paddy_edge/rotation.py): one test per pass, each timed only when
it is that format's turn. The stage sets PADDY_EDGE_BENCH_* and merges the JSON each run writes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import numpy as np
import pytest
import torch

from paddy_edge import paths
from paddy_edge.formats import REGISTRY, Runner, runner

ROUNDS = int(os.environ.get("PADDY_EDGE_BENCH_ROUNDS", "30"))
WARMUP = int(os.environ.get("PADDY_EDGE_BENCH_WARMUP", "3"))
THREADS = int(os.environ.get("PADDY_EDGE_BENCH_THREADS", "1"))
PASSES = int(os.environ.get("PADDY_EDGE_BENCH_PASSES", "1"))
# By hand, all of them in one process and no turns to wait for (fine for a look, unfair between
# runtimes: see above).
FORMATS = os.environ.get("PADDY_EDGE_BENCH_FORMATS", ",".join(REGISTRY)).split(",")
TURNS = os.environ.get("PADDY_EDGE_BENCH_TURNS")


class Turns:
    """The worker's side of rotation.py's turns: say ready, wait for go; say done when timed."""

    def __init__(self, handed: str) -> None:
        self.go, self.answers = (int(fd) for fd in handed.split(","))

    def wait(self) -> None:
        os.write(self.answers, b"r")
        if os.read(self.go, 1) != b"g":
            pytest.exit("the bench stage stopped handing out turns", returncode=3)

    @contextmanager
    def __call__(self) -> Iterator[None]:
        self.wait()
        try:
            yield
        finally:
            os.write(self.answers, b"d")


@pytest.fixture(scope="session")
def turn() -> Iterator[Callable[[], AbstractContextManager[None]]]:
    """Waits for this format's turn and says when it is over; by hand, no waiting. After the last pass
    the worker stays idle until every format is done, so no worker's exit lands on another's turn."""
    if not TURNS:
        yield nullcontext
        return
    turns = Turns(TURNS)
    yield turns
    turns.wait()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    card = json.loads(paths.MODEL_CARD.read_text())
    shape = (1, 3, card["input"]["height"], card["input"]["width"])
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="module")
def runners() -> dict[str, Runner]:
    """Each format loaded once, before its first turn."""
    torch.set_num_threads(THREADS)
    return {fmt: runner(fmt, threads=THREADS) for fmt in FORMATS}


@pytest.mark.parametrize("number", range(1, PASSES + 1), ids=lambda n: f"pass{n}")
@pytest.mark.parametrize("fmt", FORMATS)
def test_batch1_latency(
    benchmark, photo: np.ndarray, runners: dict[str, Runner], turn, fmt: str, number: int
):
    run = runners[fmt]
    benchmark.group = "batch-1 latency"
    benchmark.extra_info.update({"format": fmt, "threads": THREADS, "pass": number})
    with turn():
        logits = benchmark.pedantic(run, args=(photo,), rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)
    assert logits.shape[0] == 1 and np.isfinite(logits).all()
