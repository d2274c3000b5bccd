"""The app is built on every pull request: ci.yml's flutter job, read as data. It builds the release APK
with the committed placeholder model, checks the built APK with paddy_edge.app.apk_check (standard library
only: the job has no venv), and holds the committed pubspec.lock to what `flutter pub get` writes."""

from __future__ import annotations

import re

import yaml

from ..helpers import ROOT

FLUTTER_VERSION = "3.38.10"  # the latest 3.38 patch: executorch_flutter needs Flutter >= 3.38, Dart >= 3.10


def _workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / f".github/workflows/{name}.yml").read_text())


def _runs(job: dict) -> list[str]:
    return [step.get("run", "") for step in job["steps"]]


def _index(job: dict, needle: str) -> int:
    return next(i for i, run in enumerate(_runs(job)) if needle in run)


def test_every_pull_request_builds_the_release_apk() -> None:
    job = _workflow("ci")["jobs"]["flutter"]
    uses = {step["uses"].split("@")[0]: step for step in job["steps"] if "uses" in step}
    assert str(uses["subosito/flutter-action"]["with"]["flutter-version"]) == FLUTTER_VERSION
    assert str(uses["actions/setup-java"]["with"]["java-version"]) == "17"
    order = [
        _index(job, "flutter pub get"),
        _index(job, "flutter analyze"),
        _index(job, "flutter test"),
        _index(
            job, "flutter build apk --release --split-per-abi --target-platform android-arm64,android-x64"
        ),
        _index(job, "dump xmltree --file AndroidManifest.xml"),
        _index(job, "python3 -m paddy_edge.app.apk_check"),
    ]
    assert order == sorted(order)
    assert not any("make setup" in run or ".venv" in run for run in _runs(job)), "no venv in this job"
    assert not any("app_assets" in run for run in _runs(job)), "it builds the committed placeholder model"


def test_the_apk_check_reads_the_merged_manifest_of_the_built_apk() -> None:
    job = _workflow("ci")["jobs"]["flutter"]
    dump = job["steps"][_index(job, "dump xmltree")]["run"]
    assert re.search(
        r"aapt2.* dump xmltree --file AndroidManifest\.xml \\\s+\S+app-arm64-v8a-release\.apk", dump
    )
    check = job["steps"][_index(job, "paddy_edge.app.apk_check")]
    assert check["env"]["PYTHONPATH"] == "src"
    assert "--manifest-dump merged-manifest.txt" in check["run"] and "--app flutter_app" in check["run"]
    assert "merged-manifest.txt" in dump and "--summary apk-report.md" in check["run"]
    summary = job["steps"][_index(job, "cat apk-report.md")]
    assert summary["run"] == 'cat apk-report.md >> "$GITHUB_STEP_SUMMARY"' and "!cancelled()" in summary["if"]


def test_the_apk_sizes_and_checks_are_a_pull_request_comment_of_their_own() -> None:
    """Sizes in the PR comment: the flutter job posts the APK check as its own comment (the pipeline job's
    report is another), updated in place, from the repository's own branches only (a fork's token
    cannot comment)."""
    job = _workflow("ci")["jobs"]["flutter"]
    post = job["steps"][_index(job, "paddy_edge.ci.report post")]
    assert (
        post["run"]
        == 'python3 -m paddy_edge.ci.report post --kind apk --file apk-report.md --pr "$PR_NUMBER"'
    )
    assert "github.event.pull_request.head.repo.full_name == github.repository" in post["if"]
    assert post["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_the_lock_is_uploaded_and_must_match_the_committed_one() -> None:
    job = _workflow("ci")["jobs"]["flutter"]
    upload = next(s for s in job["steps"] if s.get("with", {}).get("path") == "flutter_app/pubspec.lock")
    assert upload["if"] == "${{ !cancelled() && steps.pub.outcome == 'success' }}"
    lock_check = job["steps"][_index(job, "paddy_edge.ci.flutter_lock")]
    assert lock_check["run"] == "python3 -m paddy_edge.ci.flutter_lock --app flutter_app"
    assert "!cancelled()" in lock_check["if"], "the first run still shows the build"
    # what the step does with a missing, a committed and a drifted lock: tests/workflows/test_flutter_lock.py


def test_the_lock_check_names_the_flutter_version_the_job_pins() -> None:
    from paddy_edge.ci.flutter_lock import FLUTTER_VERSION as named

    assert named == FLUTTER_VERSION


def test_the_release_apk_job_checks_the_apk() -> None:
    job = _workflow("release")["jobs"]["apk"]
    assert (
        _index(job, "verify-apk")
        < _index(job, "dump xmltree")
        < _index(job, "python3 -m paddy_edge.app.apk_check")
    )
