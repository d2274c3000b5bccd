"""`make smoke` runs in a copy: the checkout's tracked files, dvc.lock and params.yaml stay as they are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from paddy_edge.errors import UserError
from paddy_edge.smoke import build_workspace, project_files

from ..helpers import ROOT


def test_workspace_has_the_pipeline_but_not_the_real_lock(tmp_path: Path) -> None:
    before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    workspace = build_workspace(ROOT, tmp_path / "ws", {"data": {"source": "sample"}, "train": {"epochs": 1}})
    for name in ("dvc.yaml", "src/paddy_edge/stages/prepare.py", "benchmarks/test_latency.py", ".dvc/config"):
        assert (workspace / name).exists(), name
    assert not (workspace / "dvc.lock").exists()
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    assert params["data"]["source"] == "sample" and params["train"]["epochs"] == 1
    assert params["train"]["arch"] == yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["arch"]
    after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert before == after


def test_project_files_leave_out_what_no_stage_reads() -> None:
    names = project_files(ROOT)
    assert "dvc.yaml" in names and "src/paddy_edge/cli.py" in names
    assert not any(
        n.startswith((".github/", "flutter_app/")) or n in {"dvc.lock", "params.yaml"} for n in names
    )


def _git_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    return path


def test_workspace_mirrors_the_checkout_and_drops_deleted_modules(tmp_path: Path) -> None:
    """A module deleted from src/ must not stay importable in the copy (it would hide a broken import);
    DVC's outputs in the workspace are not project files and stay."""
    root = _git_repo(
        tmp_path / "checkout",
        {
            "params.yaml": (ROOT / "params.yaml").read_text(),
            "dvc.yaml": "stages: {}\n",
            "src/paddy_edge/kept.py": "KEPT = 1\n",
            "src/paddy_edge/gone.py": "GONE = 1\n",
        },
    )
    workspace = build_workspace(root, tmp_path / "ws", {})
    assert (workspace / "src/paddy_edge/gone.py").is_file()
    (workspace / "models").mkdir()
    (workspace / "models/model.ptl").write_bytes(b"a pipeline output")

    subprocess.run(["git", "rm", "-qf", "src/paddy_edge/gone.py"], cwd=root, check=True)
    (root / "src/paddy_edge/kept.py").write_text("KEPT = 2\n")
    build_workspace(root, workspace, {})

    assert not (workspace / "src/paddy_edge/gone.py").exists()
    assert (workspace / "src/paddy_edge/kept.py").read_text() == "KEPT = 2\n"
    assert (workspace / "models/model.ptl").read_bytes() == b"a pipeline output"


def test_a_restored_cache_alone_still_gets_a_dvc_project(tmp_path: Path) -> None:
    """CI restores only .smoke/.dvc/cache; the workspace must still become its own DVC project, with the
    restored cache kept, or DVC attaches to the enclosing git repository (which ignores .smoke/)."""
    checkout = _git_repo(tmp_path / "checkout", {".gitignore": "/.smoke/\n"})
    cache = checkout / ".smoke/.dvc/cache/files/md5/ab"
    cache.mkdir(parents=True)
    (cache / "cdef").write_bytes(b"cached object")

    workspace = build_workspace(ROOT, checkout / ".smoke", {})

    assert (workspace / ".dvc/config").is_file()
    assert (cache / "cdef").read_bytes() == b"cached object"
    status = subprocess.run(
        [sys.executable, "-m", "dvc", "status"], cwd=workspace, capture_output=True, text=True
    )
    assert status.returncode == 0, status.stdout + status.stderr


def _build_in_a_fresh_process(root: Path, workspace: Path) -> list[str]:
    """build_workspace as `make smoke` runs it, in its own interpreter; which of timm and torch it loaded."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from paddy_edge.smoke import build_workspace\n"
        "build_workspace(Path(sys.argv[1]), Path(sys.argv[2]), {'train': {'epochs': 1}})\n"
        "print(' '.join(m for m in ('timm', 'torch') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(root), str(workspace)], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_a_second_build_loads_no_torch_and_rewrites_nothing(tmp_path: Path) -> None:
    """A no-op `make smoke` (nothing changed) must be quick: checking the architecture name imports timm
    and torch (about 3 s and 1 GB), so it runs only when params.yaml changes; and no file of the workspace
    is written again (not even with the same bytes)."""
    root = _git_repo(
        tmp_path / "checkout",
        {
            "params.yaml": (ROOT / "params.yaml").read_text(),
            "dvc.yaml": "stages: {}\n",
            "src/m.py": "M = 1\n",
        },
    )
    workspace = tmp_path / "ws"
    assert _build_in_a_fresh_process(root, workspace) == ["timm", "torch"]  # new params: checked in full
    written = {p: p.stat().st_mtime_ns for p in workspace.rglob("*") if p.is_file()}

    assert _build_in_a_fresh_process(root, workspace) == []
    assert {p: p.stat().st_mtime_ns for p in workspace.rglob("*") if p.is_file()} == written


def test_a_misspelt_arch_is_caught_when_params_change(tmp_path: Path) -> None:
    """The architecture check is skipped only for the workspace's unchanged params: a new, misspelt name
    is one message naming the key, before dvc runs, and the workspace keeps its checked params.yaml."""
    params = (ROOT / "params.yaml").read_text()
    root = _git_repo(tmp_path / "checkout", {"params.yaml": params, "dvc.yaml": "stages: {}\n"})
    workspace = build_workspace(root, tmp_path / "ws", {})
    checked = (workspace / "params.yaml").read_text()
    arch = yaml.safe_load(params)["train"]["arch"]
    (root / "params.yaml").write_text(params.replace(f"arch: {arch}", f"arch: {arch[:-1]}"))

    with pytest.raises(UserError, match=r"train\.arch: .* is not a timm model"):
        build_workspace(root, workspace, {})
    assert (workspace / "params.yaml").read_text() == checked
