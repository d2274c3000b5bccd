"""The `dvc repro` that started this stage, and whether it is still there.

DVC runs a stage as `$SHELL -c "<cmd>"` with DVC_STAGE set. Killed (kill -9, a closed terminal), dvc
leaves the stage running as an orphan, and a second `dvc repro` may restore the same outputs from its
run-cache without ever running the stage, so the stage's lock never sees it. An orphan therefore commits
nothing: `outputs._replace` calls `raise_if_orphaned()` before it moves an output into place.

Linux: the launcher is known by pid and start time (/proc), so a reused pid is not mistaken for it.
Elsewhere the sign is the parent pid changing. Standard library only (runtime/outputs imports it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from paddy_edge.errors import UserError

STAGE_ENV = "DVC_STAGE"  # set by dvc for every stage command (dvc.stage.run.prepare_kwargs)
SHELLS = {"sh", "bash", "dash", "zsh", "fish", "ksh", "mksh", "busybox"}
# The stage's launcher, handed to processes it starts that write its outputs (distributed training).
HANDOFF_ENV = "PADDY_EDGE_LAUNCHER"

_launcher: tuple[int, str | None] | None = None  # (pid, start time), when dvc started this process


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...], or None (no such process, or
    no /proc). Field 22 of proc(5), the start time in clock ticks, is [19]: with the pid, it names a
    process that a reused pid cannot be mistaken for."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    fields = proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None  # field 22 of proc(5), in clock ticks


def remember(environ: os._Environ[str] | dict[str, str] = os.environ) -> None:
    """Note the dvc process that launched this stage (nothing when not run by dvc)."""
    global _launcher
    if HANDOFF_ENV in environ:  # a process the stage started: it answers to the stage's dvc repro
        pid, started = json.loads(environ[HANDOFF_ENV])
        _launcher = (int(pid), started)
        return
    if STAGE_ENV not in environ:
        return
    pid = os.getppid()
    fields = proc_stat(pid)
    if fields and _comm(pid) in SHELLS:  # a shell that waits for the command (dash, zsh) rather than exec it
        pid = int(fields[1])
    _launcher = (pid, _start_time(pid))


def handoff() -> dict[str, str]:
    """What to put in the environment of processes this stage starts to write its outputs, so that they
    too commit nothing once the dvc repro is gone."""
    return {} if _launcher is None else {HANDOFF_ENV: json.dumps(_launcher)}


def launcher_alive() -> bool:
    if _launcher is None:
        return True
    pid, started = _launcher
    if started is None:  # no /proc: the parent (dvc or its shell) is gone when we were reparented
        return os.getppid() == pid
    fields = proc_stat(pid)
    return bool(fields) and fields[0] not in {"Z", "X"} and _start_time(pid) == started


def raise_if_orphaned() -> None:
    """UserError when the dvc repro that started this stage has ended: what it would have received is
    not written, since another dvc repro may own these outputs now."""
    if not launcher_alive():
        assert _launcher is not None
        raise UserError(
            f"the dvc repro that started this stage (pid {_launcher[0]}) has ended, so this run is an "
            "orphan: its outputs are not kept (another dvc repro may have written them since). Rerun "
            "`dvc repro` to finish"
        )
