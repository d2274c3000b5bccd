"""The workflows, read as data and held to the pipeline's contract, the runner's limits and the security
rules. The linters (check-jsonschema, zizmor, actionlint) run in `make lint`, not here: these tests hold
what no linter knows."""

from __future__ import annotations

import re

import yaml

from paddy_edge.ci.app_assets import APP_ASSETS

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
    assert {"lint", "tests", "pipeline"} <= set(WORKFLOWS["ci"]["jobs"])
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
    # the whole export folder: every gated format, the app's three files, and main's gate reports
    assert upload["with"]["path"].split() == ["models/export/"]
    apk_runs = " ".join(
        step.get("run", "") for _, step in _steps({"jobs": {"apk": WORKFLOWS["release"]["jobs"]["apk"]}})
    )
    assert "python3 -m paddy_edge.ci.app_assets --from model --app flutter_app" in apk_runs
    # app_assets installs only a model whose gate passed: the artifact carries main's gate report.
    model_runs = " ".join(step.get("run", "") for step in model_job["steps"])
    assert "cp gated/reports/gate.json models/export/gate.json" in model_runs
    assert "--gate model/gate.json" in apk_runs and "--force" not in apk_runs
    assert "flutter analyze" in apk_runs and "flutter test" in apk_runs and "--split-per-abi" in apk_runs
    assert "paddy_edge.ci.release verify-apk" in apk_runs
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


def _job_steps(workflow: str, job: str) -> list[dict]:
    return WORKFLOWS[workflow]["jobs"][job]["steps"]


def _text(node) -> str:
    return yaml.safe_dump(node, sort_keys=False)


def test_secrets_reach_only_the_steps_that_use_them() -> None:
    for name, workflow in WORKFLOWS.items():
        for job_name, job in workflow["jobs"].items():
            assert "secrets." not in _text(job.get("env", {})), f"{name}.{job_name}: job-level secret"


def test_no_always_and_report_readers_need_the_report() -> None:
    for name, workflow in WORKFLOWS.items():
        assert "always()" not in _text(workflow), name
    for step in _job_steps("ci", "pipeline"):
        if "report.md" in step.get("run", "") and "--out report.md" not in step["run"]:
            assert "hashFiles('report.md') != ''" in step["if"], step.get("name")


def test_only_pull_requests_cancel_in_progress_runs() -> None:
    assert (
        WORKFLOWS["ci"]["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    )
    assert WORKFLOWS["release"]["concurrency"]["cancel-in-progress"] is False


def test_pull_requests_never_register_and_never_save_caches() -> None:
    pipeline = WORKFLOWS["ci"]["jobs"]["pipeline"]
    assert pipeline["env"]["PADDY_EDGE_REGISTER"] == "${{ github.event_name != 'pull_request' }}"
    saves = [s for s in pipeline["steps"] if s.get("uses", "").startswith("actions/cache/save@")]
    assert len(saves) == 4
    by_id = {s.get("id"): s for s in pipeline["steps"]}
    assert by_id["keep-baseline"]["if"].startswith("github.ref == 'refs/heads/main' && ")
    # Every save hangs off that main-only step, directly or through a step that does.
    assert "steps.keep-baseline.outcome == 'success'" in by_id["gated"]["if"]
    assert by_id["smoke-baseline"]["if"] == "steps.gated.outcome == 'success'"
    for save in saves:
        assert save["if"].startswith(
            (
                "steps.keep-baseline.outcome == 'success'",
                "steps.gated.outcome",
                "steps.smoke-baseline.outcome",
            )
        ), save["if"]
    keys = sorted(save["with"]["key"] for save in saves)
    assert keys[-2:] == [
        "reports-${{ steps.profile.outputs.profile }}-main-${{ github.sha }}",
        "reports-smoke-main-${{ github.sha }}",
    ]
    assert not any(s.get("uses", "").startswith("actions/cache@") for _, s in _steps(WORKFLOWS["ci"]))


def test_caches_are_keyed_on_what_the_pipeline_depends_on_the_same_way_in_both_workflows() -> None:
    keys = {
        name: next(s for s in workflow["jobs"][job]["steps"] if s.get("id") == "key")
        for name, workflow, job in (
            ("ci", WORKFLOWS["ci"], "pipeline"),
            ("release", WORKFLOWS["release"], "model"),
        )
    }
    assert keys["ci"] == keys["release"]
    expression = keys["ci"]["env"]["PIPELINE_HASH"]
    for part in ("'dvc.yaml'", "'params.yaml'", "'src/**/*.py'", "'benchmarks/**/*.py'"):
        assert part in expression
    assert "github.sha" not in expression
    # *.py, not src/**: the profile step's python writes __pycache__ before the cache steps run.
    assert "'src/**'" not in expression
    release = {s.get("id"): s for s in _job_steps("release", "model")}
    assert release["gated"]["with"]["key"] == "gated-real-${{ steps.key.outputs.pipeline }}"
    assert release["dvc-cache"]["with"]["key"] == "dvc-real-${{ steps.key.outputs.pipeline }}"
    ci = {s.get("id"): s for s in _job_steps("ci", "pipeline")}
    assert (
        ci["dvc-cache"]["with"]["key"]
        == "dvc-${{ steps.profile.outputs.profile }}-${{ steps.key.outputs.pipeline }}"
    )


def test_runners_get_cpu_wheels_and_no_multi_gigabyte_pip_cache() -> None:
    for name, job in (("ci", "tests"), ("ci", "pipeline"), ("release", "model")):
        wheels = WORKFLOWS[name]["jobs"][job]["env"]["TORCH_WHEELS"]
        assert wheels == "cpu" or wheels.endswith("|| 'cpu') }}"), f"{name}.{job}"
        runs = [s.get("run", "") for s in _job_steps(name, job)]
        assert any(run.startswith("df -h /") for run in runs), f"{name}.{job} prints no disk footprint"
    for name, workflow in WORKFLOWS.items():
        for job_name, step in _steps(workflow):
            if step.get("uses", "").startswith("actions/setup-python@"):
                assert step["with"].get("cache") is None or job_name == "lint", f"{name}.{job_name}"
    lint_runs = [s.get("run", "") for s in _job_steps("ci", "lint")]
    assert lint_runs == ["", "", "make lint"] and "make setup" not in lint_runs


def test_release_ships_what_main_gated_and_reruns_cleanly() -> None:
    model = {s.get("name", s.get("id")): s for s in _job_steps("release", "model")}
    refuse = model["Refuse a release that main has not gated"]
    assert refuse["if"] == "steps.gated.outputs.cache-hit != 'true'" and "exit 1" in refuse["run"]
    runs = [s.get("run", "") for s in _job_steps("release", "model")]
    verify = runs.index(
        "python3 -m paddy_edge.ci.gated verify --record gated/gated.json --model-dir models/export"
    )
    assert runs.index("make pull-cache repro") < verify < runs.index("make device-check MODEL_ROOT=.")
    publish = " ".join(s.get("run", "") for s in _job_steps("release", "publish"))
    assert (
        "--verify-tag" in publish
        and "--clobber" in publish
        and "--gated artifacts/model/gated.json" in publish
    )
