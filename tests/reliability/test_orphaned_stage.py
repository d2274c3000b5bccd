"""Issue 11, probe item 10: `dvc repro` killed while a stage runs leaves the stage running as an orphan.
A second `dvc repro` may restore that stage's outputs from the run-cache without running it (so the stage
lock never sees it); the orphan must then not overwrite them. It commits nothing once its dvc is gone.

Real dvc in a temporary repository; the stage is a small program that starts as `python -m paddy_edge`
does (interrupts.install, orphans.remember), waits at a barrier the test controls, and then writes its
output through outputs.write_json, the way every stage commits an output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..helpers import ROOT

DVC = Path(sys.executable).with_name("dvc")

STAGE = """
import os, sys, time
from pathlib import Path
from paddy_edge.runtime import outputs
from paddy_edge.runtime import interrupts, orphans
from paddy_edge.errors import UserError

interrupts.install()
orphans.remember()
Path("ready").write_text(str(os.getpid()))
while not Path("go").exists():
    time.sleep(0.05)
try:
    outputs.write_json(Path("out.json"), {"written_by": os.getpid()})
    Path("result.txt").write_text("committed")
except UserError as exc:
    Path("result.txt").write_text(f"refused: {exc}")
"""

DVC_YAML = """stages:
  slow:
    cmd: python stage.py
    outs:
      - out.json:
          cache: false
"""


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run([DVC, "init", "--no-scm", "-q"], cwd=repo, check=True)
    (repo / "stage.py").write_text(STAGE)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    return repo


def _wait_for(path: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)
    time.sleep(0.05)
    return path.read_text()


def _env(shell: str = "/bin/bash") -> dict[str, str]:
    path = f"{DVC.parent}:{os.environ['PATH']}"
    return os.environ | {"PYTHONPATH": str(ROOT / "src"), "PATH": path, "SHELL": shell}


# dvc runs `$SHELL -c cmd`: bash execs the command (dvc is its parent), dash waits for it (dvc's grandchild)
@pytest.mark.parametrize("shell", ["/bin/bash", "/bin/dash"])
@pytest.mark.parametrize("kill_dvc", [False, True], ids=["dvc-alive", "dvc-killed"])
def test_a_stage_whose_dvc_repro_was_killed_commits_nothing(
    tmp_path: Path, kill_dvc: bool, shell: str
) -> None:
    repo = _repo(tmp_path)
    dvc = subprocess.Popen(
        [DVC, "repro"], cwd=repo, env=_env(shell), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        stage_pid = int(_wait_for(repo / "ready"))
        assert stage_pid != dvc.pid
        if kill_dvc:
            os.kill(dvc.pid, signal.SIGKILL)
            dvc.wait()
        (repo / "go").touch()
        result = _wait_for(repo / "result.txt")
    finally:
        dvc.kill()
        dvc.wait()
    if kill_dvc:
        assert result.startswith("refused: the dvc repro that started this stage"), result
        assert f"(pid {dvc.pid}) has ended" in result and "Rerun `dvc repro`" in result
        assert not (repo / "out.json").exists()
        assert not [p.name for p in repo.iterdir() if p.name.endswith(".tmp") or ".tmp" in p.name]
    else:
        assert result == "committed" and (repo / "out.json").is_file()


def test_a_command_not_started_by_dvc_is_never_an_orphan(tmp_path: Path) -> None:
    """Run by hand (no DVC_STAGE), a stage outlives the shell that started it and still commits."""
    (tmp_path / "go").touch()
    env = {k: v for k, v in _env().items() if k != "DVC_STAGE"}
    script = tmp_path / "stage.py"
    script.write_text(STAGE)
    shell = subprocess.run(
        ["sh", "-c", f"{sys.executable} {script} & echo $!"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert shell.returncode == 0  # the shell has exited; its background child carries on
    assert _wait_for(tmp_path / "result.txt") == "committed"


def test_a_process_the_stage_starts_answers_to_the_stages_dvc_repro(monkeypatch: pytest.MonkeyPatch) -> None:
    """Distributed training's workers write the stage's outputs: handed the stage's launcher through
    the environment, they too commit nothing once that dvc repro is gone, and keep committing while
    it lives."""
    import json

    from paddy_edge.errors import UserError
    from paddy_edge.runtime import orphans

    gone = subprocess.Popen(["sleep", "0"])
    started = orphans._start_time(gone.pid)
    gone.wait()
    monkeypatch.setattr(orphans, "_launcher", (gone.pid, started or "1"))
    handed = orphans.handoff()
    assert json.loads(handed[orphans.HANDOFF_ENV]) == [gone.pid, started or "1"]

    monkeypatch.setattr(orphans, "_launcher", None)
    orphans.remember({**handed, orphans.STAGE_ENV: "train"})
    with pytest.raises(UserError, match=f"pid {gone.pid}"):
        orphans.raise_if_orphaned()

    alive = {orphans.HANDOFF_ENV: json.dumps([os.getpid(), orphans._start_time(os.getpid())])}
    orphans.remember(alive)
    orphans.raise_if_orphaned()
    assert orphans.handoff() == alive
