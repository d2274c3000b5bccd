"""How a stage's outputs land: built under a temporary name beside the final path and moved into place
only on success (never after a Ctrl-C or once the stage is orphaned), the leftovers of killed runs, the
stage lock that keeps two writers apart, and the small JSON and hashing helpers every stage uses.

Standard library only: the workflows' scripts (paddy_edge.ci) use it without the pipeline's venv."""

from __future__ import annotations

import errno
import fcntl
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from paddy_edge.errors import UserError
from paddy_edge.runtime import interrupts, orphans


def _temp_sibling(final: Path, suffix: str = "") -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp" + suffix, dir=final.parent))


def scratch_dir(final: Path) -> Path:
    """A temporary folder beside `final` that `remove_stale_temps` knows as `final`'s (the caller
    removes it)."""
    return _temp_sibling(final, "-scratch")


def _user_mode(directory: Path) -> None:
    """mkdtemp makes a 0700 folder; an output gets the mode the user's umask gives any new folder."""
    mask = os.umask(0o022)
    os.umask(mask)
    directory.chmod(0o777 & ~mask)


def stale_temps(final: Path) -> list[Path]:
    """The temporary siblings of `final` (from atomic_dir, atomic_file or scratch_dir): left behind only
    by a run that was killed (kill -9, power loss), since every other exit removes them."""
    if not final.parent.is_dir():
        return []
    return sorted(final.parent.glob(f".{glob.escape(final.name)}.*.tmp*"))


def remove_stale_temps(outputs: tuple[Path, ...]) -> list[Path]:
    """Remove what killed runs of a stage left beside its outputs. Call it holding the stage's lock."""
    removed = [temp for final in outputs for temp in stale_temps(final)]
    for temp in removed:
        if temp.is_dir() and not temp.is_symlink():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)
    return removed


def _replace(built: Path, final: Path) -> None:
    interrupts.raise_if_requested()  # a Ctrl-C swallowed while building it: the output is not kept
    orphans.raise_if_orphaned()  # dvc was killed meanwhile: a later dvc repro may own the output now
    if built.is_dir():
        _user_mode(built)
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)
    elif final.exists() or final.is_symlink():
        final.unlink()
    os.replace(built, final)


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield an empty directory beside `final`; it becomes `final` only if the block succeeds."""
    work = _temp_sibling(final)
    try:
        yield work
        _replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """Yield a path to write; it becomes `final` only if the block succeeds."""
    work = _temp_sibling(final)
    target = work / final.name
    try:
        yield target
        if not target.exists():
            raise RuntimeError(f"{final} was not written")
        _replace(target, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_json(path: Path, payload: Any) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")


def read_json(path: Path, made_by: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise_missing(path, made_by)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}): rerun `dvc repro -f {made_by}`") from None


def raise_missing(path: Path, made_by: str) -> None:
    if not path.exists():
        raise UserError(
            f"{path} is missing: it is written by the '{made_by}' stage; run `dvc repro {made_by}`"
        )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lock_file(stage: str, folder: Path | None = None) -> Path:
    """Outside the checkout (nothing to clean or commit), one per stage and folder (default: here)."""
    key = hashlib.sha256(str((folder or Path.cwd()).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"paddy-edge-{key}-{stage}.lock"


@contextmanager
def stage_lock(stage: str) -> Iterator[None]:
    """Hold the stage's lock in this folder, or refuse: a `dvc repro` killed mid-stage leaves the stage
    running as an orphan, and a second writer of the same outputs would race it. The kernel releases
    the lock when its process dies (kill -9 included), so no stale lock ever blocks a rerun."""
    path = lock_file(stage)
    while True:
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise UserError(
                f"the {stage} stage is already running in {Path.cwd()} ({holder}): wait for it to "
                f"finish or stop it, then rerun"
            ) from None
        # The holder we waited on may have removed the file after we opened it: lock the current one.
        if path.exists() and os.path.samestat(os.fstat(handle.fileno()), path.stat()):
            break
        handle.close()
    try:
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        path.unlink(missing_ok=True)
        handle.close()
