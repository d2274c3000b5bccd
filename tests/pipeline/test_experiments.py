"""Parallel experiments, as `make sweep` runs them: a git clone of the project (DVC experiments are git
refs), one queued `dvc exp run` per timm model, two run at a time by DVC's queue, both logging to one
SQLite MLflow store at once. `dvc exp show` must list both with the gate's metrics, each must be its
own finished MLflow run, and the workspace must be left as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from paddy_edge.config import deep_merge, read_yaml
from paddy_edge.smoke import build_workspace, workspace_env

from ..helpers import ROOT

ARCHS = ("edgenext_xx_small", "mobilenetv3_small_050")
# The smoke profile, shorter: two epochs at 64 px, the app's format only, gates every run passes.
SWEEP_OVERLAY = {
    "train": {"epochs": 2, "image_size": 64},
    "export": {"formats": ["executorch", "onnx"]},
    "bench": {"rounds": 3, "warmup_rounds": 1},
    "gates": {
        "min_accuracy": 0.0,
        "max_accuracy_drop": 1.0,
        "min_agreement": 0.0,
        "max_latency_ratio": None,
        "max_latency_ms": None,
        "formats": {},
    },
    "mlflow": {"experiment": "paddy-edge-sweep", "registered_model": "paddy-edge-sweep"},
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.slow
def test_make_sweep_runs_one_queued_experiment_per_model_two_at_a_time(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    overlay = deep_merge(read_yaml(ROOT / "profiles/smoke.yaml"), SWEEP_OVERLAY)
    build_workspace(ROOT, repo, overlay)
    (repo / ".dvc/config").write_text("[core]\n    analytics = false\n")  # with git: no `no_scm`
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "baseline")
    env = workspace_env(ROOT, repo)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'shared.db'}"  # both experiments write here
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    params_before = (repo / "params.yaml").read_bytes()

    sweep = subprocess.run(
        [
            *("make", "-f", str(ROOT / "Makefile"), "-C", str(repo), "-o", "setup", "sweep"),
            f"ARCHS={' '.join(ARCHS)}",
            "JOBS=2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert sweep.returncode == 0, sweep.stdout[-5000:] + sweep.stderr[-5000:]

    shown = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    experiments = [
        exp for baseline in json.loads(shown.stdout) for exp in (baseline.get("experiments") or [])
    ]
    runs = {}
    for experiment in experiments:
        rev = experiment["revs"][0]
        log = (experiment.get("executor") or {}).get("local", {}).get("log")
        assert rev["error"] is None, f"{experiment['name']} failed: {Path(log).read_text()[-3000:]}"
        arch = rev["data"]["params"]["params.yaml"]["data"]["train"]["arch"]
        runs[arch] = rev["data"]["metrics"]["reports/gate.json"]["data"]
    assert set(runs) == set(ARCHS), runs
    assert all(gate["passed"] is True for gate in runs.values()), runs

    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("paddy-edge-sweep")
    logged = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.params["train.arch"] for r in logged) == sorted(ARCHS)
    assert all(r.info.status == "FINISHED" and r.data.tags.get("gate") == "passed" for r in logged)
    assert {r.info.run_id for r in logged} == {gate["mlflow_run_id"] for gate in runs.values()}
    # The workspace itself ran nothing: the experiments ran in DVC's temporary copies.
    assert (repo / "params.yaml").read_bytes() == params_before
    assert not (repo / "models").exists()
