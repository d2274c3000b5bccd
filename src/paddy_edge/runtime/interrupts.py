"""Ctrl-C, honoured even where Python would drop it. The default handler raises KeyboardInterrupt
wherever the interpreter happens to be; raised inside a garbage-collection callback or a `__del__`
(SQLAlchemy's, during MLflow logging) it is printed as "Exception ignored" and lost, and the stage then
finishes and exits 0 as if nobody had asked it to stop. This handler also remembers the request, so the
next commit of an output and the end of the command raise it again."""

from __future__ import annotations

import signal
import sys

_requested = False


def _on_sigint(signum: int, frame: object) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


def unraisable(args: sys.UnraisableHookArgs) -> None:
    """A Ctrl-C raised where Python cannot propagate it is remembered, not printed as a traceback."""
    if not (_requested and args.exc_type is KeyboardInterrupt):
        sys.__unraisablehook__(args)


def install() -> None:
    """Take over Ctrl-C, unless the command was started with it ignored: `nohup make smoke &` and a
    non-interactive shell's `&` start it so, and like every Unix tool a stage then keeps ignoring it (a
    Ctrl-C meant for the shell in front must not stop a job sent to the background)."""
    sys.unraisablehook = unraisable
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return
    signal.signal(signal.SIGINT, _on_sigint)


def requested() -> bool:
    return _requested


def raise_if_requested() -> None:
    """Raise the Ctrl-C that may have been swallowed since it arrived (call before committing work)."""
    if _requested:
        raise KeyboardInterrupt


def ignore() -> None:
    """From here on (interpreter shutdown) Ctrl-C cannot interrupt: what is done stays done."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
