"""Helpers of the reliability suite alone: faults are real (processes, signals, a full filesystem), and so
are the stages they hit. (params.yaml and the CLI: tests/helpers/params.py and cli.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def temps_under(folder: Path) -> list[Path]:
    """What an interrupted stage could leave: the `.<output>.*.tmp*` siblings of atomic writes."""
    return sorted(p for p in folder.rglob(".*.tmp*") if ".dvc" not in p.parts)


def can_mount_tmpfs() -> bool:
    """A size-limited tmpfs in a private mount namespace: a real full disk, without touching the host."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True
    )
    return probe.returncode == 0


needs_tmpfs = pytest.mark.skipif(
    not can_mount_tmpfs(), reason="needs `unshare -rm` to mount a small tmpfs (user namespaces off here)"
)


BUSY_LOOP = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end: 0"


@contextmanager
def busy_cores(seconds: float = 600) -> Iterator[int]:
    """One busy loop per core for the length of the block, as a neighbour's build would: each stops by
    itself after `seconds` if the block outlives it, and all are killed when it ends."""
    loops = [
        subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(seconds)]) for _ in range(os.cpu_count() or 1)
    ]
    try:
        yield len(loops)
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
