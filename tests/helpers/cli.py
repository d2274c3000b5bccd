"""`python -m paddy_edge ARGS`, as dvc.yaml runs a stage and a person runs a command: the one way a test
starts the package's CLI in a process of its own."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

HANG_GUARD_S = 600  # only so that a command that hangs cannot hang the suite; nothing is timed

Output = int | IO[str] | IO[bytes] | None


def command(*args: str) -> list[str]:
    """The command line: this interpreter (the tests' venv), `-m paddy_edge`, ARGS."""
    return [sys.executable, "-m", "paddy_edge", *args]


def cli(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = HANG_GUARD_S,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m paddy_edge ARGS` to the end, its stdout and stderr captured as text. `cwd` and `env`
    default to the test's own (env: the whole environment, not added to it); `timeout` None waits for
    ever; `input` is written to its stdin."""
    return subprocess.run(
        command(*args),
        cwd=cwd,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdout: Output = subprocess.PIPE,
    stderr: Output = subprocess.PIPE,
    preexec_fn: Callable[[], None] | None = None,
    start_new_session: bool = False,
) -> subprocess.Popen[str]:
    """Start `python -m paddy_edge ARGS` in the background (text mode; stdout and stderr piped unless
    said otherwise), for a test that signals it, kills it or talks to it while it runs. `preexec_fn`: how
    its SIGINT is set (helpers.signals); `start_new_session`: its own process group, to kill it whole."""
    return subprocess.Popen(
        command(*args),
        cwd=cwd,
        env=env,
        stdout=stdout,
        stderr=stderr,
        text=True,
        preexec_fn=preexec_fn,
        start_new_session=start_new_session,
    )
