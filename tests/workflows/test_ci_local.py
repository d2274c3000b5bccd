"""`make ci-local` (paddy_edge.ci.local): what it hands act, and ci.yml's lint job run by it for real in a
new clone of the project. The whole path (pull request, main, tag) is test_scenario.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paddy_edge.ci import act_folders, local
from paddy_edge.errors import UserError

from ..helpers import ROOT
from .test_scenario import REPOSITORY, _git, _project_copy, needs_actions


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("clone")
    _project_copy(repo)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "remote", "add", "origin", f"git@github.com:{REPOSITORY}.git")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "the template")
    return repo


def _ci_local(clone: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`python -m paddy_edge.ci.local ARGS` in the clone, as make ci-local runs it."""
    return subprocess.run(
        [sys.executable, "-m", "paddy_edge.ci.local", *args],
        cwd=clone,
        capture_output=True,
        text=True,
        env=env | {"PYTHONPATH": str(ROOT / "src")},
    )


def test_the_repository_is_the_origin_remotes_and_a_clone_without_one_is_told_what_to_do(
    clone: Path, tmp_path: Path
) -> None:
    assert local.repository(clone) == REPOSITORY
    _git(tmp_path, "init", "-q")
    with pytest.raises(
        UserError, match=r"is not set: act names.*git remote add origin https://github\.com/OWNER/REPO"
    ):
        local.repository(tmp_path)


def test_pinned_actions_map_to_local_copies_and_the_rest_are_named(clone: Path, tmp_path: Path) -> None:
    pinned = local.pinned_actions(clone)
    assert ("actions/checkout", "93cb6efe18208431cddfb8368fd83d5badbf9bfd") in pinned
    assert all(len(sha) == 40 for _, sha in pinned)
    (tmp_path / "actions/checkout@93cb6efe18208431cddfb8368fd83d5badbf9bfd").mkdir(parents=True)
    flags, missing = local.local_actions(clone, tmp_path)
    assert flags == [
        "--local-repository",
        f"actions/checkout@93cb6efe18208431cddfb8368fd83d5badbf9bfd={tmp_path}/actions/"
        "checkout@93cb6efe18208431cddfb8368fd83d5badbf9bfd",
    ]
    assert len(missing) == len(pinned) - 1


def test_a_pull_requests_event_names_its_base_and_a_tags_push_its_ref(clone: Path) -> None:
    pr = local.event_payload(local.Run(clone, pr=4), REPOSITORY)
    main_sha = _git(clone, "rev-parse", "main")
    assert pr["number"] == 4 and pr["pull_request"]["base"]["sha"] == main_sha
    assert pr["pull_request"]["head"]["repo"]["full_name"] == REPOSITORY
    tag = local.event_payload(local.Run(clone, event="push", ref="refs/tags/v1.0.0"), REPOSITORY)
    assert tag["ref"] == "refs/tags/v1.0.0" and tag["after"] == main_sha
    dispatch = local.Run(clone, event="workflow_dispatch", inputs={"profile": "smoke"})
    assert local.event_payload(dispatch, REPOSITORY)["inputs"] == {"profile": "smoke"}


def test_secrets_go_to_act_by_name_and_servers_listen_on_loopback(clone: Path, tmp_path: Path) -> None:
    run = local.Run(clone, jobs=["lint"], state=tmp_path, secrets=["KAGGLE_KEY"], variables={"A": "b"})
    command = local.act_command(run, REPOSITORY, tmp_path / "event.json", "http://127.0.0.1:1", "lint")
    joined = " ".join(command)
    assert command.count("--job") == 1 and command[command.index("--job") + 1] == "lint"
    assert "--secret KAGGLE_KEY" in joined and "--secret GITHUB_TOKEN" in joined and "--var A=b" in joined
    assert command[command.index("--cache-server-addr") + 1] == "127.0.0.1"
    assert command[command.index("--artifact-server-addr") + 1] == "127.0.0.1"
    assert command[command.index("--cache-server-path") + 1] == str(tmp_path / "cache")
    assert command[command.index("--secret-file") + 1] == ""  # never a .secrets file from the checkout
    assert (tmp_path / "tool-cache/Python").is_dir()


def test_a_secret_named_but_not_set_is_one_message(clone: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAGGLE_KEY"}
    result = _ci_local(clone, env, "--state", str(tmp_path), "--secret", "KAGGLE_KEY")
    assert result.returncode == 2
    assert result.stderr == "error: secret KAGGLE_KEY is not set in this environment: export it first\n"


@needs_actions
def test_ci_local_runs_the_lint_job_green_in_a_new_clone(clone: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    result = _ci_local(clone, env, "--state", str(tmp_path), "--job", "lint")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success - Main make lint" in result.stdout and "Job succeeded" in result.stdout
    event = json.loads((tmp_path / "events/pull_request.json").read_text())
    assert event["repository"]["full_name"] == REPOSITORY
    # setup-python's pip cache went through act's cache server into the state folder
    assert any((tmp_path / "cache").iterdir())


def test_a_failed_jobs_copy_is_kept_and_named_and_the_next_run_removes_it(tmp_path: Path) -> None:
    """act keeps a failed job's working copy (a pipeline job's holds over 10 GB of venvs); left to pile
    up, four failed legs of the scenario filled this machine's disk."""
    repo = tmp_path / "repo"
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/ci.yml").write_text(
        "on: [push, pull_request]\n"
        "jobs:\n"
        "  broken:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: head -c 3000000 /dev/urandom > venv-like && exit 3\n"
        "  fine:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: echo ok > made-here\n"
    )
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "remote", "add", "origin", f"https://github.com/{REPOSITORY}.git")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "a workflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    state = tmp_path / "state"

    failed = _ci_local(repo, env, "--state", str(state), "--job", "broken", "--job", "fine")
    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr
    kept = act_folders.job_copies(state / "runner")
    assert len(kept) == 1, f"the failed job's copy, and only it, stays: {kept}"
    (copy,) = kept
    assert (copy / "hostexecutor/venv-like").stat().st_size == 3_000_000
    assert f"ci-local: broken's working copy is kept in {copy / 'hostexecutor'} (3.0 MB)" in failed.stderr
    assert "ci-local: failed: broken\n" in failed.stderr

    passed = _ci_local(repo, env, "--state", str(state), "--job", "fine")
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr
    assert not copy.exists() and act_folders.job_copies(state / "runner") == set()
