"""What `make ci-local` keeps in its state folder (`.act/`) for act: a tool cache in which setup-python
finds this interpreter, and the jobs' working copies, of which only failed ones outlive their run.

Standard library only."""

from __future__ import annotations

import platform
import shutil
import venv
from pathlib import Path


def tool_cache(folder: Path) -> Path:
    """A tool cache in which actions/setup-python finds this interpreter's version (a venv of it), so
    the jobs need no Python download. The interpreter must be the version the workflows ask for."""
    version = platform.python_version()
    python = folder / "Python" / version / "x64"
    complete = python.with_name("x64.complete")
    if not complete.is_file():
        shutil.rmtree(python, ignore_errors=True)
        venv.create(python, with_pip=True, symlinks=True)
        complete.touch()
    return folder


def job_copies(runner: Path) -> set[Path]:
    """The job folders act left in `runner` (it removes a passed job's; a failed job's stays)."""
    return {copy.parent for copy in runner.glob("*/hostexecutor")}


def remove_job_copies(runner: Path) -> None:
    for folder in sorted(job_copies(runner)):
        shutil.rmtree(folder)


def size(folder: Path) -> str:
    total = sum(path.lstat().st_size for path in folder.rglob("*") if not path.is_dir() or path.is_symlink())
    return f"{total / 1e9:.1f} GB" if total >= 1e8 else f"{total / 1e6:.1f} MB"
