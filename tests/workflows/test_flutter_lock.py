"""The flutter job's pubspec.lock check, run as the workflow runs it, in a real git repository: a lock
never committed (a new clone of the template) warns and passes; a committed lock that `flutter pub get`
changed fails; the committed one passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import ROOT

LOCK = "packages:\n  camera:\n    version: '0.11.2'\nsdks:\n  dart: '>=3.9.0 <4.0.0'\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    app = tmp_path / "flutter_app"
    app.mkdir()
    (app / "pubspec.yaml").write_text((ROOT / "flutter_app/pubspec.yaml").read_text())
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=a", "add", "-A")
    _git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "app")
    return tmp_path


def _check(repo: Path) -> subprocess.CompletedProcess:
    """The workflow's step, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "paddy_edge.ci.flutter_lock", "--app", "flutter_app"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )


def test_a_lock_never_committed_warns_and_passes(repo: Path) -> None:
    (repo / "flutter_app/pubspec.lock").write_text(LOCK)  # what flutter pub get wrote on the runner
    result = _check(repo)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("::warning file=flutter_app/pubspec.lock::")
    assert "pubspec-lock artifact" in result.stdout


def test_the_committed_lock_passes_and_a_drifted_one_fails(repo: Path) -> None:
    (repo / "flutter_app/pubspec.lock").write_text(LOCK)
    _git(repo, "add", "flutter_app/pubspec.lock")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "lock")
    same = _check(repo)
    assert same.returncode == 0 and "is the committed one" in same.stdout
    (repo / "flutter_app/pubspec.lock").write_text(LOCK.replace("0.11.2", "0.11.3"))
    drifted = _check(repo)
    assert drifted.returncode == 1
    assert "-    version: '0.11.2'" in drifted.stdout and "+    version: '0.11.3'" in drifted.stdout
    assert "::error file=flutter_app/pubspec.lock::flutter pub get changed" in drifted.stdout


def test_no_lock_at_all_fails(repo: Path) -> None:
    result = _check(repo)
    assert result.returncode == 1 and "is missing" in result.stdout
