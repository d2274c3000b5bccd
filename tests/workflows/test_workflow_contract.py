"""The workflows, read as data and held to the pipeline's contract and the security rules. The three
linters (check-jsonschema, zizmor, actionlint) run in `make lint`; the schema and zizmor run here too."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from paddy_edge.app_assets import APP_ASSETS

from ..conftest import ROOT

WORKFLOWS = {p.stem: yaml.safe_load(p.read_text()) for p in (ROOT / ".github/workflows").glob("*.yml")}
PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def _on(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True


def _steps(workflow: dict):
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            yield name, step


def _uses_lines() -> list[str]:
    lines = []
    for path in (ROOT / ".github/workflows").glob("*.yml"):
        lines += [
            line.split("uses:", 1)[1].strip() for line in path.read_text().splitlines() if "uses:" in line
        ]
    return lines


def test_ci_runs_on_pull_requests_and_main_and_release_on_tags() -> None:
    assert set(_on(WORKFLOWS["ci"])) == {"pull_request", "push"}
    assert _on(WORKFLOWS["ci"])["push"]["branches"] == ["main"]
    assert _on(WORKFLOWS["release"])["push"]["tags"] == ["v*"] and "workflow_dispatch" in _on(
        WORKFLOWS["release"]
    )
    assert set(WORKFLOWS["ci"]["jobs"]) == {"lint", "tests", "pipeline"}
    assert set(WORKFLOWS["release"]["jobs"]) == {"model", "apk", "publish"}


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    uses = _uses_lines()
    assert uses
    for line in uses:
        assert PIN.match(line), line


def test_least_privilege_and_no_pull_request_target() -> None:
    for name, workflow in WORKFLOWS.items():
        assert workflow["permissions"] == {"contents": "read"}, name
        assert "pull_request_target" not in _on(workflow)
        for job_name, job in workflow["jobs"].items():
            assert "timeout-minutes" in job, f"{name}.{job_name} has no timeout"
            for scope, level in job.get("permissions", {}).items():
                assert level in ("read", "write") and (
                    level == "read"
                    or (name, job_name, scope)
                    in {("ci", "pipeline", "pull-requests"), ("release", "publish", "contents")}
                ), f"{name}.{job_name} writes {scope}"
        assert "concurrency" in workflow


def test_checkouts_do_not_persist_credentials() -> None:
    for name, workflow in WORKFLOWS.items():
        for job, step in _steps(workflow):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{name}.{job}"


def test_no_expression_is_expanded_inside_a_shell_script() -> None:
    """Untrusted event fields reach scripts only through env:, never by ${{ }} inside run:."""
    for name, workflow in WORKFLOWS.items():
        for job, step in _steps(workflow):
            assert "${{" not in step.get("run", ""), f"{name}.{job}: {step.get('name', step['run'][:40])}"


def test_ci_uses_the_makefile_commands_the_readme_documents() -> None:
    runs = [step.get("run", "") for _, step in _steps(WORKFLOWS["ci"])]
    assert "make smoke" in runs and "make test" in runs and "make lint" in runs
    makefile = (ROOT / "Makefile").read_text()
    for target in (
        "smoke",
        "test",
        "lint",
        "repro",
        "pull-cache",
        "push-cache",
        "device-check",
        "metrics-diff",
    ):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "make smoke" in (ROOT / "README.md").read_text()


def test_release_ships_the_files_export_writes_to_the_paths_the_app_loads() -> None:
    model_job = WORKFLOWS["release"]["jobs"]["model"]
    upload = next(s for s in model_job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    shipped = {Path(line).name for line in upload["with"]["path"].split()}
    assert set(APP_ASSETS) <= shipped and "model.onnx" in shipped
    apk_runs = " ".join(
        step.get("run", "") for _, step in _steps({"jobs": {"apk": WORKFLOWS["release"]["jobs"]["apk"]}})
    )
    assert "python3 -m paddy_edge.app_assets --from model --app flutter_app" in apk_runs
    assert "flutter analyze" in apk_runs and "flutter test" in apk_runs and "--split-per-abi" in apk_runs
    assert "paddy_edge.release verify-apk" in apk_runs
    pubspec = yaml.safe_load((ROOT / "flutter_app/pubspec.yaml").read_text())
    assert set(pubspec["flutter"]["assets"]) == set(APP_ASSETS.values())


def test_flutter_is_pinned_and_cached() -> None:
    steps = [
        s for _, s in _steps(WORKFLOWS["release"]) if s.get("uses", "").startswith("subosito/flutter-action@")
    ]
    assert len(steps) == 1
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(steps[0]["with"]["flutter-version"]))
    assert steps[0]["with"]["cache"] is True


def test_secrets_are_never_echoed() -> None:
    for path in (ROOT / ".github/workflows").glob("*.yml"):
        for line in path.read_text().splitlines():
            if "secrets." in line:
                assert re.match(r"^\s+[A-Z0-9_]+: \$\{\{ secrets\.[A-Z0-9_]+ \}\}$", line), line


def test_dependabot_keeps_actions_and_pip_current() -> None:
    config = yaml.safe_load((ROOT / ".github/dependabot.yml").read_text())
    assert {u["package-ecosystem"] for u in config["updates"]} == {"github-actions", "pip"}


@pytest.mark.parametrize(
    "command",
    [
        [
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            ".github/workflows/ci.yml",
            ".github/workflows/release.yml",
        ],
        ["check_jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml"],
    ],
    ids=["workflow-schema", "dependabot-schema"],
)
def test_schema_checks_pass(command: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing() -> None:
    zizmor = Path(sys.executable).parent / "zizmor"
    result = subprocess.run(
        [str(zizmor), "--offline", "--no-progress", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr
