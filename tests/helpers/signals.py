"""How a test starts a child that it will Ctrl-C, or that must not notice a Ctrl-C.

A suite started as a background job (`pytest &` in a script, `make test &`, some CI runners) inherits
SIGINT ignored, and every child it starts would too: a test that means a terminal's Ctrl-C sets the
child's SIGINT to the default itself."""

from __future__ import annotations

import signal


def sigint_default() -> None:
    """preexec_fn of a child the test will Ctrl-C: a suite started as a background job (`pytest &` in a
    script, CI) inherits SIGINT ignored, and so would the child; the test means a terminal's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sigint_ignored() -> None:
    """preexec_fn of a child started as `nohup ... &` would be: SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
