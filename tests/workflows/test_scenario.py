"""The template's whole path, run for real under act (`paddy_edge.ci.local`, what `make ci-local` runs):
a pull request, a push to main, a second pull request, a tag. One git repository, one act cache server
and artifact store, one MLflow store (the MLFLOW_TRACKING_URI secret) and one stand-in for GitHub's REST
API serve every run, as one GitHub repository would. Each job installs the project from nothing in its
own copy of the repository, as a runner does.

The Flutter SDK and `gh release` cannot run here: the release stops after its model job, and the apk job's
first step (the gated model into the app) runs on the model artifact that job uploaded.

ACT_ACTIONS_DIR names local copies of the pinned actions (a machine that cannot reach GitHub); without it
act fetches them. The modules' tests run in order, each leg on what the ones before it left."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from paddy_edge.app.app_assets import APP_ASSETS
from paddy_edge.ci import act_folders, report
from paddy_edge.ci.github_standin import BOT, GitHubStandIn

from ..helpers import ROOT


def _why_act_cannot_get_the_actions() -> str:
    """Empty when act can get the pinned actions: local copies (ACT_ACTIONS_DIR), or GitHub itself."""
    if os.environ.get("ACT_ACTIONS_DIR"):
        return ""
    try:
        socket.getaddrinfo("github.com", 443)
    except OSError:
        return "github.com cannot be reached and ACT_ACTIONS_DIR names no copies of the pinned actions"
    return ""


needs_actions = pytest.mark.skipif(
    bool(_why_act_cannot_get_the_actions()), reason=_why_act_cannot_get_the_actions()
)
pytestmark = [pytest.mark.slow, needs_actions]
REPOSITORY = "acme/paddy-edge"
DEVICE_CHECK = "Success - Main Model runs in the app's runtime (ExecuTorch)"  # ci.yml: continue-on-error
SECTIONS = ("### Gates", "### Metrics against main", "### Formats", "### Per class", "### Confusion matrix")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def _project_copy(target: Path) -> None:
    """The checkout's files as a new clone has them: tracked, and untracked ones git does not ignore."""
    listing = _git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, listing.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@dataclass
class Scenario:
    repo: Path
    state: Path
    logs: Path
    mlflow_db: Path
    api: GitHubStandIn

    def act(self, name: str, *args: str) -> str:
        """Run `python -m paddy_edge.ci.local ARGS` in the repository; its log, asserted green."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTEST_", "MLFLOW_", "OMP_", "KAGGLE_", "COV_"))
        }
        env |= {
            "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",  # act, from the dev extra
            "PYTHONPATH": str(self.repo / "src"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{self.mlflow_db}",
        }
        command = [
            sys.executable,
            "-m",
            "paddy_edge.ci.local",
            "--state",
            str(self.state),
            "--api-url",
            self.api.url,
            "--secret",
            "MLFLOW_TRACKING_URI",
            "--var",
            f"TORCH_WHEELS={os.environ.get('SCENARIO_TORCH_WHEELS', 'default')}",
            *args,
        ]
        log = self.logs / f"{name}.log"
        with log.open("w") as out:
            result = subprocess.run(command, cwd=self.repo, env=env, stdout=out, stderr=subprocess.STDOUT)
        text = log.read_text()
        assert result.returncode == 0, f"{name} failed under act (whole log: {log}):\n{text[-6000:]}"
        return text

    def versions(self) -> list[tuple[int, str]]:
        """The registered model's versions in the shared MLflow store, with their aliases."""
        with sqlite3.connect(self.mlflow_db) as db:
            rows = db.execute("SELECT version FROM model_versions ORDER BY version").fetchall()
            aliases = dict(db.execute("SELECT version, alias FROM registered_model_aliases").fetchall())
        return [(version, aliases.get(version, "")) for (version,) in rows]

    def commit(self, message: str, edit: str) -> str:
        path = self.repo / edit
        path.write_text(path.read_text() + f"\n<!-- {message} -->\n")
        _git(self.repo, "commit", "-qam", message)
        return _git(self.repo, "rev-parse", "HEAD")

    def comment(self, pr: int) -> str:
        ours = [c for c in self.api.comments.of(REPOSITORY, pr) if c["user"]["login"] == BOT]
        assert len(ours) == 1, f"PR #{pr} has {len(ours)} report comments"
        return ours[0]["body"]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("scenario")
    repo = base / "repo"
    repo.mkdir()
    _project_copy(repo)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "ci@example.com")
    _git(repo, "config", "user.name", "ci")
    _git(repo, "remote", "add", "origin", f"https://github.com/{REPOSITORY}.git")  # never contacted
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "the template")
    (base / "logs").mkdir()
    with GitHubStandIn() as api:
        yield Scenario(repo, base / "act", base / "logs", base / "mlflow.db", api)
    # a failed leg's copy holds its venvs (over 10 GB); what it showed is in its log under logs/
    act_folders.remove_job_copies(base / "act" / "runner")


def _saved(log: str) -> set[str]:
    return set(re.findall(r"Cache saved with key: (\S+)", log))


def _restored(log: str) -> set[str]:
    return set(re.findall(r"Cache restored from key: (\S+)", log))


def test_a_pull_request_gets_its_gates_and_report_comment(scenario: Scenario) -> None:
    _git(scenario.repo, "checkout", "-qb", "feature")
    scenario.commit("a first change", "README.md")
    log = scenario.act(
        "1-pull-request", "--event", "pull_request", "--pr", "1", "--job", "lint", "--job", "pipeline"
    )
    assert "Job succeeded" in log and "ruff check" in log
    assert DEVICE_CHECK in log, "the app's runtime did not give the pipeline's answers"
    body = scenario.comment(1)
    assert body.startswith(report.MARKER) and all(section in body for section in SECTIONS)
    assert "**All gates passed.**" in body and "No baseline from main yet" in body
    assert "Not registered: pull requests never move the registry" in body
    assert scenario.versions() == [], "a pull request registered a model"
    assert not _saved(log) - {k for k in _saved(log) if k.startswith("setup-python-")}, "a PR saved a cache"


def test_main_keeps_the_baseline_the_dvc_cache_and_the_gated_record(scenario: Scenario) -> None:
    _git(scenario.repo, "checkout", "-q", "main")
    _git(scenario.repo, "merge", "-q", "--ff-only", "feature")
    sha = _git(scenario.repo, "rev-parse", "HEAD")
    log = scenario.act("2-main", "--event", "push", "--job", "pipeline")
    saved = _saved(log)
    assert f"reports-smoke-main-{sha}" in saved
    assert any(key.startswith("dvc-smoke-") for key in saved), saved
    assert any(key.startswith("gated-smoke-") for key in saved), saved
    assert "recorded the gated smoke model" in log
    assert [alias for _, alias in scenario.versions()] == ["champion"], scenario.versions()


def test_a_second_pull_request_diffs_against_main_and_trains_nothing(scenario: Scenario) -> None:
    _git(scenario.repo, "checkout", "-qb", "docs")
    scenario.commit("a README change", "README.md")
    log = scenario.act("3-pull-request", "--event", "pull_request", "--pr", "2", "--job", "pipeline")
    restored = _restored(log)
    assert any(key.startswith("dvc-smoke-") for key in restored), restored
    assert any(key.startswith("reports-smoke-main-") for key in restored), restored
    assert "Running stage 'train'" not in log and "Stage 'train' is cached" in log
    body = scenario.comment(2)
    # The same code and params as main, restored from main's run-cache: every metric equals main's.
    assert re.search(r"_All \d+ metrics equal main's\._", body), body
    assert len(scenario.versions()) == 1


def test_a_tag_releases_mains_gated_smoke_model_without_retraining(
    scenario: Scenario, tmp_path: Path
) -> None:
    _git(scenario.repo, "checkout", "-q", "main")
    _git(scenario.repo, "tag", "v0.1.0")
    before = scenario.versions()
    log = scenario.act(
        "4-release",
        "--event",
        "push",
        "--ref",
        "refs/tags/v0.1.0",
        "--workflow",
        ".github/workflows/release.yml",
        "--job",
        "model",
        "--var",
        "RELEASE_PROFILE=smoke",
    )
    restored = _restored(log)
    assert any(key.startswith("gated-smoke-") for key in restored), restored
    assert any(key.startswith("dvc-smoke-") for key in restored), "main's DVC cache was not restored"
    assert "Running stage 'train'" not in log and "holds exactly the model files main gated" in log
    assert DEVICE_CHECK in log
    assert scenario.versions() == before, "the release registered the model again"

    # The apk job's first step, on the artifact the model job uploaded.
    artifact = max(scenario.state.glob("artifacts/**/model.zip"), key=lambda p: p.stat().st_mtime)
    model = tmp_path / "model"
    with zipfile.ZipFile(artifact) as archive:
        archive.extractall(model)
    gated = json.loads((model / "gated.json").read_text())
    assert gated["profile"] == "smoke" and gated["commit"] == _git(scenario.repo, "rev-parse", "main")
    app = tmp_path / "flutter_app"
    shutil.copytree(scenario.repo / "flutter_app", app)
    assets = ["--from", str(model), "--app", str(app), "--gate", str(model / "gate.json")]
    put = subprocess.run(
        [sys.executable, "-m", "paddy_edge.app.app_assets", *assets],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(scenario.repo / "src")},
    )
    assert put.returncode == 0, put.stderr
    installed = app / APP_ASSETS["model.pte"]
    assert installed.read_bytes() == (model / "model.pte").read_bytes()
