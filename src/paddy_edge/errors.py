"""The one exception type whose message is meant for the person running the pipeline, and the gate's
verdict."""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input or environment: the CLI prints the message (which says what to do) and exits 2."""


class GatesFailed(Exception):
    """The model failed a gate: the gate stage has printed and recorded which; the CLI exits 1."""


def exit_code(command: Callable[[], object]) -> int:
    """Run a workflow script's command: 0, or 2 with the UserError's message on stderr (no traceback)."""
    try:
        command()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
