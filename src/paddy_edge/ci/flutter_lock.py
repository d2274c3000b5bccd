"""The flutter job's check of `flutter_app/pubspec.lock` after `flutter pub get`.

A lock that is committed and that `flutter pub get` changed fails the job: the build is not the one the
repository pins. A lock that was never committed (a new clone of the template: no Flutter SDK wrote one
yet) is a warning, not a failure, so the first pull request and main stay green: the job uploads the lock
it wrote as an artifact, to be committed.

Standard library only: `python3 -m paddy_edge.ci.flutter_lock --app flutter_app`."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

FLUTTER_VERSION = "3.38.10"  # the workflows' flutter-action pin, for the message


def _git(app: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=app, capture_output=True, text=True)


def check(app: Path) -> tuple[int, str]:
    """(exit status, what to print: GitHub annotations) for the lock `flutter pub get` left in `app`."""
    lock = app / "pubspec.lock"
    where = f"{app.as_posix().rstrip('/')}/pubspec.lock"
    if not lock.is_file():
        return 1, f"::error file={where}::{where} is missing: flutter pub get did not write it"
    if _git(app, "ls-files", "--error-unmatch", "pubspec.lock").returncode != 0:
        return 0, (
            f"::warning file={where}::{where} is not committed yet, so each build resolves its own "
            "package versions. Download this run's pubspec-lock artifact, put it in "
            f"{app.as_posix()}/ and commit it; from then on a drift fails this job."
        )
    diff = _git(app, "diff", "--exit-code", "--", "pubspec.lock")
    if diff.returncode == 0:
        return 0, f"{where} is the committed one"
    return 1, (
        f"{diff.stdout}::error file={where}::flutter pub get changed {where}: commit this run's "
        f"pubspec-lock artifact (or run flutter pub get with Flutter {FLUTTER_VERSION} and commit the result)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", type=Path, default=Path("flutter_app"))
    args = parser.parse_args(argv)
    code, message = check(args.app)
    print(message)
    return code


if __name__ == "__main__":
    sys.exit(main())
