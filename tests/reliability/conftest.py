"""Helpers for the reliability suite: faults are real (processes, signals, a full filesystem), and so are
the stages they hit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from paddy_edge.config import deep_merge, read_yaml

from ..conftest import ROOT


def write_params(folder: Path, overlay: dict[str, Any] | None = None, base: Path | None = None) -> Path:
    """params.yaml in `folder`: `base` (default the repository's) with an overlay."""
    merged = deep_merge(read_yaml(base or ROOT / "params.yaml"), overlay or {})
    target = folder / "params.yaml"
    target.write_text(yaml.safe_dump(merged, sort_keys=False))
    return target


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600):
    """`python -m paddy_edge ARGS` in `cwd`, as dvc.yaml runs it."""
    return subprocess.run(
        [sys.executable, "-m", "paddy_edge", *args],
        cwd=cwd,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


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
