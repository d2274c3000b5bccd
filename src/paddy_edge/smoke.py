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
from paddy_edge.tracking.mlflow_runs import git_commit

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


COPIED_LIST = ".paddy-edge-files"  # what the last build copied, so the next one can remove what left


def _mirror(root: Path, workspace: Path) -> None:
    """Make the workspace's copy of the project files equal the checkout's: copy what changed, and
    delete what an earlier build copied that the checkout no longer has (a deleted module must not
    stay importable in the copy). DVC's outputs, lock and cache are never in the list, so they stay."""
    names = [n for n in project_files(root) if (root / n).is_file()]  # not: deleted but still indexed
    record = workspace / COPIED_LIST
    previous = set(record.read_text().splitlines()) if record.is_file() else set()
    for name in sorted(previous - set(names)):
        (workspace / name).unlink(missing_ok=True)
    for name in names:
        source, target = root / name, workspace / name
        if target.exists() and filecmp.cmp(source, target, shallow=False):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    listing = "\n".join(names) + "\n"
    if not record.is_file() or record.read_text() != listing:  # a no-op rewrites nothing
        record.write_text(listing)


def build_workspace(root: Path, workspace: Path, overlay: dict[str, Any]) -> Path:
    """Create or refresh `workspace` from `root`; keep its DVC cache, lock and outputs between runs."""
    workspace.mkdir(parents=True, exist_ok=True)
    _mirror(root, workspace)
    merged = deep_merge(read_yaml(root / paths.PARAMS), overlay)
    rendered = yaml.safe_dump(merged, sort_keys=False)
    target = workspace / paths.PARAMS
    unchanged = target.is_file() and target.read_text() == rendered
    # Every key is checked on every run; the architecture name (a check that imports timm and torch) only
    # when params.yaml is about to change: the copy in the workspace was checked when it was written, and
    # each stage checks it again before it runs. A no-op `make smoke` then loads neither.
    parse_params(merged, target, check_arch=not unchanged)
    if not unchanged:
        target.write_text(rendered)
    # CI restores only .dvc/cache: without .dvc/config, DVC would attach to the enclosing git repo
    # (which ignores the workspace) and refuse dvc.yaml. The config, not the folder, makes a project.
    if not (workspace / ".dvc/config").is_file():
        _init_dvc(workspace)
    return workspace


def _init_dvc(workspace: Path) -> None:
    """`dvc init --no-scm`, keeping whatever a cache restore already put in .dvc/ (`--force` would
    delete the cache)."""
    dvc_dir, restored = workspace / ".dvc", workspace / ".dvc.restored"
    shutil.rmtree(restored, ignore_errors=True)
    if dvc_dir.exists():
        os.replace(dvc_dir, restored)
    for command in (["init", "--no-scm", "-q"], ["config", "core.analytics", "false"]):
        subprocess.run([sys.executable, "-m", "dvc", *command], cwd=workspace, check=True)
    if restored.exists():
        for child in restored.iterdir():
            if not (dvc_dir / child.name).exists():
                os.replace(child, dvc_dir / child.name)
        shutil.rmtree(restored)


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
