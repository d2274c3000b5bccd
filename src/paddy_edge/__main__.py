"""`python -m paddy_edge` and the `paddy-edge` script. Ctrl-C is taken over before anything heavy is
imported, so at any moment it ends in one line and exit code 130, never a traceback or a bare SIGINT."""

from __future__ import annotations

import os
import sys

from paddy_edge.runtime import interrupts, orphans

INTERRUPTED = 130
# What Ctrl-C means for the commands that are not pipeline stages.
STOPPED = {"demo": "demo stopped", "load-test": "load test stopped: no report was written"}


def main() -> None:
    interrupts.install()
    orphans.remember()
    code: int | str | None = 0
    try:
        from paddy_edge.cli import app

        app()
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        # A Ctrl-C while importing, or whatever a library made of one it caught (numpy half-imported
        # fails the next import with an ImportError): a consequence of the Ctrl-C, not a bug to print.
        if not interrupts.requested():
            raise
        code = INTERRUPTED
    finally:
        interrupts.ignore()
    if interrupts.requested():
        # Whatever the command made of it (click says "Aborted!", exit 1; a swallowed one finishes with 0):
        # the person pressed Ctrl-C, and the run does not count.
        code = INTERRUPTED
    if code == INTERRUPTED:
        command = sys.argv[1] if len(sys.argv) > 1 else ""
        if command in STOPPED:
            print(STOPPED[command], file=sys.stderr)
        else:
            print("interrupted: this run's unfinished outputs were removed; rerun to finish", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        # Every finally block has run (temps removed, MLflow run ended, lock released). Python's own
        # finalization could still turn the interrupt into a bare SIGINT death (seen: exit -2 after this
        # line), so the interrupted path ends here, with the code said above.
        os._exit(INTERRUPTED)
    sys.exit(code)


if __name__ == "__main__":
    main()
