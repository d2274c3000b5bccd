"""MLflow in tests: work that must not see another test's active run."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def in_own_thread(work: Callable[[], T]) -> T:
    """Run `work` in a thread of its own: MLflow's active run is per thread, so a run another test left
    active in this process cannot become the parent of ours (start_run would refuse)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()
