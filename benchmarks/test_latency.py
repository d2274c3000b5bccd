"""Batch-1 latency of each model format, measured by pytest-benchmark. Run by the bench stage
(`python -m paddy_edge bench`) once per format, each in its own process (PADDY_EDGE_BENCH_FORMATS names
it): ONNX Runtime's thread pool spins after a run and starves torch's threads in the same process. The
stage sets PADDY_EDGE_BENCH_* and merges the JSON each run writes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from paddy_edge import paths
from paddy_edge.formats import REGISTRY, runner

ROUNDS = int(os.environ.get("PADDY_EDGE_BENCH_ROUNDS", "30"))
WARMUP = int(os.environ.get("PADDY_EDGE_BENCH_WARMUP", "3"))
THREADS = int(os.environ.get("PADDY_EDGE_BENCH_THREADS", "1"))
# By hand, all of them in one process (fine for a look, unfair between runtimes: see above).
FORMATS = os.environ.get("PADDY_EDGE_BENCH_FORMATS", ",".join(REGISTRY)).split(",")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    card = json.loads(paths.MODEL_CARD.read_text())
    shape = (1, 3, card["input"]["height"], card["input"]["width"])
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("fmt", FORMATS)
def test_batch1_latency(benchmark, photo: np.ndarray, fmt: str) -> None:
    torch.set_num_threads(THREADS)
    run = runner(fmt, threads=THREADS)
    benchmark.group = "batch-1 latency"
    benchmark.extra_info.update({"format": fmt, "threads": THREADS})
    logits = benchmark.pedantic(run, args=(photo,), rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)
    assert logits.shape[0] == 1 and np.isfinite(logits).all()
