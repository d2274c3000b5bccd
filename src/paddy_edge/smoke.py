"""`make smoke`: the same dvc.yaml, offline on sample data, in a workspace copy of the project.

The copy keeps the smoke run's dvc.lock, data and models away from the real run's, and leaves every
tracked file of the checkout as it was. Its params.yaml is the checkout's with a profile overlaid."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from paddy_edge import paths
from paddy_edge.config import deep_merge, parse_params, read_yaml
from paddy_edge.errors import UserError
from paddy_edge.tracking import git_commit

# Not copied: the real run's lock and params (the workspace writes its own), and what no stage reads.
EXCLUDED_PREFIXES = (".dvc/", "flutter_app/", ".github/", ".ci/")
EXCLUDED_FILES = {"dvc.lock", "params.yaml"}


def project_files(root: Path) -> list[str]:
    """Tracked files plus untracked ones git does not ignore, as in the working tree."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise UserError(
            f"cannot list the project's files with git in {root} ({exc}): run from a clone"
        ) from None
    names = [n for n in listing.split("\0") if n]
    return [n for n in names if n not in EXCLUDED_FILES and not n.startswith(EXCLUDED_PREFIXES)]


def build_workspace(root: Path, workspace: Path, overlay: dict[str, Any]) -> Path:
    """Create or refresh `workspace` from `root`; keep its DVC cache, lock and outputs between runs."""
    workspace.mkdir(parents=True, exist_ok=True)
    for name in project_files(root):
        source, target = root / name, workspace / name
        if not source.is_file():  # deleted in the working tree but still in the index
            continue
        if target.exists() and filecmp.cmp(source, target, shallow=False):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    merged = deep_merge(read_yaml(root / paths.PARAMS), overlay)
    parse_params(merged, workspace / paths.PARAMS)
    rendered = yaml.safe_dump(merged, sort_keys=False)
    target = workspace / paths.PARAMS
    if not target.exists() or target.read_text() != rendered:
        target.write_text(rendered)
    if not (workspace / ".dvc").is_dir():
        for command in (["init", "--no-scm", "-q"], ["config", "core.analytics", "false"]):
            subprocess.run([sys.executable, "-m", "dvc", *command], cwd=workspace, check=True)
    return workspace


def workspace_env(root: Path, workspace: Path) -> dict[str, str]:
    """Run the workspace's own source with this interpreter; record the checkout's commit in MLflow."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(workspace.resolve() / "src")
    if not env.get("MLFLOW_TRACKING_URI"):  # unset or empty (a CI secret that is not configured)
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{(root / 'mlflow.db').resolve()}"
    env.setdefault("PADDY_EDGE_GIT_COMMIT", git_commit(root))
    return env


def run_smoke(root: Path, workspace: Path, profile: Path) -> int:
    overlay = read_yaml(root / profile)
    workspace = build_workspace(root, root / workspace, overlay)
    print(f"Smoke workspace: {workspace} (params: params.yaml + {profile})", flush=True)
    command = [sys.executable, "-m", "dvc", "repro"]
    return subprocess.run(command, cwd=workspace, env=workspace_env(root, workspace)).returncode
