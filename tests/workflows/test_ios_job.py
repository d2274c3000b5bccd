"""The iOS build, read as data and, where a step is plain shell, run: ci.yml's `changes` and `ios` jobs (an
unsigned build on pull requests that touch the app) and release.yml's `ios` job (the unsigned build the
release attaches, labelled as such). macOS and the Flutter SDK are not here: what only a GitHub run shows is
in docs/ci-cd.md."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from paddy_edge.ci import release

from ..helpers import ROOT

WORKFLOWS = {
    name: yaml.safe_load((ROOT / f".github/workflows/{name}.yml").read_text()) for name in ("ci", "release")
}
FLUTTER_VERSION = "3.38.10"
GENERATE = "flutter create --no-pub --platforms=ios --org org.paddyedge --project-name paddy_edge_app ."


def _job(workflow: str, job: str) -> dict:
    return WORKFLOWS[workflow]["jobs"][job]


def _runs(job: dict) -> list[str]:
    return [step.get("run", "") for step in job["steps"]]


def _index(job: dict, needle: str) -> int:
    return next(i for i, run in enumerate(_runs(job)) if needle in run)


def _uses(job: dict, action: str) -> list[dict]:
    return [s for s in job["steps"] if s.get("uses", "").split("@")[0] == action]


def _on(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))


@pytest.mark.parametrize(("workflow", "job"), [("ci", "ios"), ("release", "ios")])
def test_an_unsigned_ios_build_on_macos(workflow: str, job: str) -> None:
    ios = _job(workflow, job)
    assert ios["runs-on"] == "macos-latest" and ios["timeout-minutes"] <= 60
    (flutter,) = _uses(ios, "subosito/flutter-action")
    assert (
        str(flutter["with"]["flutter-version"]) == FLUTTER_VERSION and flutter["with"]["channel"] == "stable"
    )
    assert flutter["with"]["cache"] is True
    assert _uses(ios, "actions/checkout")[0]["with"]["persist-credentials"] is False
    order = [
        _index(ios, GENERATE),
        _index(ios, "flutter pub get"),
        _index(ios, "python3 -m paddy_edge.ci.ios_project --app flutter_app"),
        _index(ios, "flutter build ios --release --no-codesign"),
        _index(ios, "ditto -c -k --sequesterRsrc --keepParent flutter_app/build/ios/iphoneos/Runner.app"),
    ]
    assert order == sorted(order)
    for needle in ("flutter create", "flutter pub get", "flutter build ios"):
        assert ios["steps"][_index(ios, needle)]["working-directory"] == "flutter_app"
    assert ios["steps"][_index(ios, "paddy_edge.ci.ios_project")]["env"] == {"PYTHONPATH": "src"}
    # flutter create's --project-name is the app's name, so it adds ios/ to this project, not another
    pubspec = yaml.safe_load((ROOT / "flutter_app/pubspec.yaml").read_text())
    assert f"--project-name {pubspec['name']} " in GENERATE
    runs = _runs(ios)
    assert all(run.count("codesign") == run.count("--no-codesign") for run in runs), "never signed here"
    assert not any(re.search(r"\bipa\b", run) for run in runs)


@pytest.mark.parametrize(("workflow", "job"), [("ci", "ios"), ("ci", "changes"), ("release", "ios")])
def test_the_ios_jobs_need_no_secret_and_no_write_permission(workflow: str, job: str) -> None:
    text = yaml.safe_dump(_job(workflow, job))
    assert "secrets." not in text and "github.token" not in text and "GITHUB_TOKEN" not in text
    assert "permissions" not in _job(workflow, job), "the workflow's contents: read"
    assert WORKFLOWS[workflow]["permissions"] == {"contents": "read"}


def test_pull_requests_that_touch_the_app_build_ios() -> None:
    assert set(_on(WORKFLOWS["ci"])) == {"pull_request", "push"}
    changes, ios = _job("ci", "changes"), _job("ci", "ios")
    assert changes["if"] == "github.event_name == 'pull_request'" and changes["runs-on"] == "ubuntu-latest"
    assert changes["outputs"] == {"ios": "${{ steps.diff.outputs.ios }}"}
    (checkout,) = _uses(changes, "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 2, "the merge commit and its first parent, the base"
    assert ios["needs"] == "changes" and ios["if"] == "needs.changes.outputs.ios == 'true'"
    diff = next(s for s in changes["steps"] if s.get("id") == "diff")
    for path in ("flutter_app/", ".github/workflows/ci.yml", "src/paddy_edge/ci/ios_project.py"):
        assert path in diff["run"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=a@b", "-c", "user.name=a", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _merge_commit(repo: Path, changed: str) -> None:
    """What actions/checkout gives a pull_request run: refs/pull/N/merge, the base as its first parent."""
    _git(repo, "init", "-q", "-b", "main")
    for name in ("README.md", "flutter_app/lib/main.dart"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("v1\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "checkout", "-qb", "feature")
    (repo / changed).parent.mkdir(parents=True, exist_ok=True)
    (repo / changed).write_text("v2\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "the pull request")
    _git(repo, "checkout", "-q", "main")
    (repo / "CHANGELOG").write_text("main moved on\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "main moved on")
    _git(repo, "checkout", "-q", "--detach")
    _git(repo, "merge", "-q", "--no-ff", "feature", "-m", "Merge feature into main")


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ("flutter_app/lib/main.dart", "true"),
        ("flutter_app/pubspec.yaml", "true"),
        (".github/workflows/ci.yml", "true"),
        ("src/paddy_edge/ci/ios_project.py", "true"),
        ("README.md", "false"),
        ("src/paddy_edge/stages/train.py", "false"),
    ],
)
def test_the_changed_files_check_reads_what_the_pull_request_changes(
    changed: str, expected: str, tmp_path: Path
) -> None:
    """The diff step, run as the runner runs it (bash -e, a scratch $GITHUB_OUTPUT) on a merge commit whose
    base moved on: only the pull request's own files count."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _merge_commit(repo, changed)
    step = next(s for s in _job("ci", "changes")["steps"] if s.get("id") == "diff")
    output = tmp_path / "github_output"
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
        cwd=repo,
        env={"GITHUB_OUTPUT": str(output), "PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert output.read_text() == f"ios={expected}\n"
    assert (changed in result.stdout) == (expected == "true")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True)
    assert status.stdout == "", "the step leaves nothing in the checkout"


def test_the_changed_files_check_fails_without_the_base(tmp_path: Path) -> None:
    """A checkout of depth 1 (no HEAD^1) fails the job rather than skipping the iOS build."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "a").write_text("a\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "only commit")
    step = next(s for s in _job("ci", "changes")["steps"] if s.get("id") == "diff")
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
        cwd=repo,
        env={"GITHUB_OUTPUT": str(tmp_path / "out"), "PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0


def test_the_pull_request_build_and_its_lock_are_uploaded() -> None:
    ios = _job("ci", "ios")
    uploads = {s["with"]["name"]: s for s in _uses(ios, "actions/upload-artifact")}
    assert set(uploads) == {"ios-pr-unsigned", "pubspec-lock-ios"}
    app = uploads["ios-pr-unsigned"]["with"]
    zipped = ios["steps"][_index(ios, "ditto -c -k")]["run"]
    assert app["path"].endswith(".zip") and app["path"] in zipped and app["if-no-files-found"] == "error"
    # artifact names are unique in a run: the Android job's lock is `pubspec-lock`
    android = {s["with"]["name"] for s in _uses(_job("ci", "flutter"), "actions/upload-artifact")}
    assert not android & set(uploads)
    lock = uploads["pubspec-lock-ios"]
    assert lock["with"]["path"] == "flutter_app/pubspec.lock"
    assert lock["if"] == "${{ !cancelled() && steps.pub.outcome == 'success' }}"
    check = ios["steps"][_index(ios, "paddy_edge.ci.flutter_lock")]
    assert check["run"] == "python3 -m paddy_edge.ci.flutter_lock --app flutter_app"
    assert check["if"] == lock["if"] and check["env"] == {"PYTHONPATH": "src"}
    assert next(s for s in ios["steps"] if s.get("id") == "pub")["run"] == "flutter pub get"
    # what the check does with a missing, a committed and a drifted lock: test_flutter_lock.py


def test_the_release_builds_ios_around_the_gated_model() -> None:
    ios = _job("release", "ios")
    assert ios["needs"] == "model"
    (download,) = _uses(ios, "actions/download-artifact")
    assert download["with"] == {"name": "model", "path": "model"}
    put = _index(
        ios, "python3 -m paddy_edge.app.app_assets --from model --app flutter_app --gate model/gate.json"
    )
    assert put < _index(ios, "flutter build ios --release --no-codesign")
    assert "--force" not in " ".join(_runs(ios))
    (upload,) = _uses(ios, "actions/upload-artifact")
    assert upload["with"] == {"name": "ios", "path": "dist/", "if-no-files-found": "error"}
    assert ios["outputs"] == {"asset": "${{ steps.asset.outputs.name }}"}
    zipped = ios["steps"][_index(ios, "ditto -c -k")]
    assert '"dist/$ASSET"' in zipped["run"] and zipped["env"] == {"ASSET": "${{ steps.asset.outputs.name }}"}


def _asset_name(tag: str, profile: str, tmp_path: Path) -> str:
    step = next(s for s in _job("release", "ios")["steps"] if s.get("id") == "asset")
    assert step["env"] == {"TAG": "${{ github.ref_name }}", "PROFILE": "${{ needs.model.outputs.profile }}"}
    output = tmp_path / "github_output"
    output.write_text("")
    subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
        env={"GITHUB_OUTPUT": str(output), "PATH": os.environ["PATH"], "TAG": tag, "PROFILE": profile},
        check=True,
    )
    (line,) = output.read_text().splitlines()
    return line.removeprefix("name=")


def test_the_release_asset_is_named_unsigned(tmp_path: Path) -> None:
    assert _asset_name("v1.2.0", "real", tmp_path) == "paddy-edge-ios-unsigned-v1.2.0.zip"
    assert _asset_name("v0.1.0", "smoke", tmp_path) == "paddy-edge-ios-unsigned-v0.1.0-smoke-model.zip"
    # a manual run from a branch: a file name, not a path (publish runs on tags only)
    assert _asset_name("feature/x", "real", tmp_path) == "paddy-edge-ios-unsigned-feature-x.zip"


def test_the_release_attaches_the_unsigned_build_and_its_notes_say_so() -> None:
    publish = _job("release", "publish")
    assert publish["needs"] == ["model", "apk", "ios"]
    (step,) = [s for s in publish["steps"] if "paddy_edge.ci.release notes" in s.get("run", "")]
    assert 'cp artifacts/apk/*.apk "artifacts/ios/$IOS_ASSET" release/' in step["run"]
    assert '--ios-asset "$IOS_ASSET"' in step["run"]
    assert step["env"]["IOS_ASSET"] == "${{ needs.ios.outputs.asset }}"
    # the checksums cover release/*, the iOS zip included, and gh uploads release/*
    assert "python3 -m paddy_edge.ci.release checksums release/*" in step["run"]
    create = next(s for s in publish["steps"] if "gh release create" in s.get("run", ""))
    assert "release/*" in create["run"]


def test_release_notes_label_the_ios_build_unsigned_and_say_what_signing_takes() -> None:
    import json

    card = json.loads((ROOT / "flutter_app/assets/models/model_card.json").read_text())
    notes = release.release_notes(
        "v1.2.0", card, "**All gates passed.**", "release", "", ios_asset="paddy-edge-ios-unsigned-v1.2.0.zip"
    )
    assert "## iOS (unsigned): `paddy-edge-ios-unsigned-v1.2.0.zip`" in notes
    for words in ("**unsigned**", "Apple Developer Program", "provisioning profile", "flutter build ipa"):
        assert words in notes, words
    assert notes.index("## iOS (unsigned)") < notes.index("## SHA-256")
    assert "iOS" not in release.release_notes("v1.2.0", card, "", "release", "")


def test_the_notes_command_takes_the_asset(tmp_path: Path) -> None:
    import json

    card_file = ROOT / "flutter_app/assets/models/model_card.json"
    (tmp_path / "gate.md").write_text("**All gates passed.**\n")
    (tmp_path / "SHA256SUMS").write_text("abc  paddy-edge-ios-unsigned-v1.zip\n")
    args = ["notes", "--tag", "v1", "--card", str(card_file), "--gate", str(tmp_path / "gate.md")]
    args += [
        "--signing",
        "release",
        "--checksums",
        str(tmp_path / "SHA256SUMS"),
        "--out",
        str(tmp_path / "n.md"),
    ]
    assert release.main([*args, "--ios-asset", "paddy-edge-ios-unsigned-v1.zip"]) == 0
    assert "## iOS (unsigned): `paddy-edge-ios-unsigned-v1.zip`" in (tmp_path / "n.md").read_text()
    assert json.loads(card_file.read_text())  # the committed card, untouched


def test_every_flutter_job_pins_the_same_sdk_and_the_docs_say_which() -> None:
    versions = {
        (name, job): str(step["with"]["flutter-version"])
        for name, workflow in WORKFLOWS.items()
        for job, body in workflow["jobs"].items()
        for step in _uses(body, "subosito/flutter-action")
    }
    assert set(versions) == {("ci", "flutter"), ("ci", "ios"), ("release", "apk"), ("release", "ios")}
    assert set(versions.values()) == {FLUTTER_VERSION}
    docs = (ROOT / "docs/ci-cd.md").read_text()
    assert f"Flutter {FLUTTER_VERSION}" in docs and "3.35" not in docs
