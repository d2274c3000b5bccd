"""`make smoke` runs in a copy: the checkout's tracked files, dvc.lock and params.yaml stay as they are."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from paddy_edge.smoke import build_workspace, project_files

from ..conftest import ROOT


def test_workspace_has_the_pipeline_but_not_the_real_lock(tmp_path: Path) -> None:
    before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    workspace = build_workspace(ROOT, tmp_path / "ws", {"data": {"source": "sample"}, "train": {"epochs": 1}})
    for name in ("dvc.yaml", "src/paddy_edge/prepare.py", "benchmarks/test_latency.py", ".dvc/config"):
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
