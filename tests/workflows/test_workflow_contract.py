"""The workflows, read as data and held to the pipeline's contract, the runner's limits and the security
rules. The linters (check-jsonschema, zizmor, actionlint) run in `make lint`, not here: these tests hold
what no linter knows."""

from __future__ import annotations

import re

import yaml

from paddy_edge.app.app_assets import APP_ASSETS

from ..helpers import ROOT

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
    assert set(WORKFLOWS["release"]["jobs"]) == {"model", "apk", "ios", "publish"}


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
                    in {
                        ("ci", "pipeline", "pull-requests"),
                        ("ci", "flutter", "pull-requests"),
                        ("release", "publish", "contents"),
                    }
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
    assert upload["with"]["path"] == "${{ steps.profile.outputs.workspace }}/models/export/"
    apk_runs = " ".join(
        step.get("run", "") for _, step in _steps({"jobs": {"apk": WORKFLOWS["release"]["jobs"]["apk"]}})
    )
    assert "python3 -m paddy_edge.app.app_assets --from model --app flutter_app" in apk_runs
    # app_assets installs only a model whose gate passed: the artifact carries main's gate report.
    model_runs = " ".join(step.get("run", "") for step in model_job["steps"])
    assert 'cp gated/reports/gate.json "$WORKSPACE/models/export/gate.json"' in model_runs
    assert "--gate model/gate.json" in apk_runs and "--force" not in apk_runs
    assert "flutter analyze" in apk_runs and "flutter test" in apk_runs and "--split-per-abi" in apk_runs
    # executorch_flutter ships arm64-v8a and x86_64 only: a 32-bit ABI would build an APK without a runtime
    assert apk_runs.count("--target-platform android-arm64,android-x64") == 2
    assert "paddy_edge.ci.release verify-apk" in apk_runs
    pubspec = yaml.safe_load((ROOT / "flutter_app/pubspec.yaml").read_text())
    assert set(pubspec["flutter"]["assets"]) == set(APP_ASSETS.values())


def test_flutter_is_pinned_and_cached() -> None:
    steps = [
        s
        for workflow in WORKFLOWS.values()
        for _, s in _steps(workflow)
        if s.get("uses", "").startswith("subosito/flutter-action@")
    ]
    assert len(steps) == 4  # ci: flutter, ios; release: apk, ios
    assert len({str(s["with"]["flutter-version"]) for s in steps}) == 1
    for step in steps:
        assert re.fullmatch(r"\d+\.\d+\.\d+", str(step["with"]["flutter-version"]))
        assert step["with"]["cache"] is True and step["with"]["channel"] == "stable"


def test_secrets_are_never_echoed() -> None:
    for path in (ROOT / ".github/workflows").glob("*.yml"):
        for line in path.read_text().splitlines():
            if "secrets." in line:
                assert re.match(r"^\s+[A-Z0-9_]+: \$\{\{ secrets\.[A-Z0-9_]+ \}\}$", line), line


def test_dependabot_keeps_actions_python_dart_and_gradle_current() -> None:
    config = yaml.safe_load((ROOT / ".github/dependabot.yml").read_text())
    by_directory = {(u["package-ecosystem"], u["directory"]): u for u in config["updates"]}
    assert set(by_directory) == {
        ("github-actions", "/"),
        ("pip", "/"),
        ("pip", "/requirements/device"),
        ("pip", "/requirements/tflite"),
        ("pub", "/flutter_app"),
        ("gradle", "/flutter_app/android"),
    }
    assert (ROOT / "flutter_app/pubspec.yaml").is_file()
    assert (ROOT / "flutter_app/android/settings.gradle.kts").is_file()


GROUP = re.compile(r"^ci-\$\{\{ (.+) \}\}$")


def _evaluate(expression: str, context: dict[str, str]):
    """The few GitHub expression forms the concurrency settings use: `a == 'b'`, `&&`, `||`, names."""
    expression = expression.strip()
    for operator in ("||", "&&"):
        if operator in expression:
            left, right = expression.split(f" {operator} ", 1)
            value = _evaluate(left, context)
            return (
                (value or _evaluate(right, context))
                if operator == "||"
                else (value and _evaluate(right, context))
            )
    if " == " in expression:
        left, right = expression.split(" == ")
        return _evaluate(left, context) == _evaluate(right, context)
    if expression.startswith("'"):
        return expression.strip("'")
    return context[expression]


def _concurrency(event: str, ref: str, sha: str) -> tuple[str, bool]:
    context = {"github.event_name": event, "github.ref": ref, "github.sha": sha}
    settings = WORKFLOWS["ci"]["concurrency"]
    group = GROUP.match(settings["group"])[1]
    cancel = re.match(r"^\$\{\{ (.+) \}\}$", settings["cancel-in-progress"])[1]
    return f"ci-{_evaluate(group, context)}", _evaluate(cancel, context)


def test_every_commit_on_main_keeps_its_run_and_a_pull_request_keeps_only_its_newest() -> None:
    """GitHub keeps one pending run per concurrency group and cancels an older pending one, whatever
    cancel-in-progress says: two commits on main in one group lose a gated record."""
    first, second = (
        _concurrency("push", "refs/heads/main", "a" * 40),
        _concurrency("push", "refs/heads/main", "b" * 40),
    )
    assert first[0] != second[0] and first[1] is False and second[1] is False
    push, again = (
        _concurrency("pull_request", "refs/pull/7/merge", "c" * 40),
        _concurrency("pull_request", "refs/pull/7/merge", "d" * 40),
    )
    assert push[0] == again[0] and push[1] is True
    assert _concurrency("pull_request", "refs/pull/8/merge", "c" * 40)[0] != push[0]


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
    assert by_id["smoke-baseline"]["if"] == (
        "steps.gated.outcome == 'success' && steps.profile.outputs.profile == 'real'"
    )
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
    # a dependency bump (dependabot's pip PRs) saves its own cache and gated record
    assert "'pyproject.toml'" in expression and "'requirements/**'" in expression
    assert "github.sha" not in expression
    # *.py, not src/**: the profile step's python writes __pycache__ before the cache steps run.
    assert "'src/**'" not in expression
    release = {s.get("id"): s for s in _job_steps("release", "model")}
    ci = {s.get("id"): s for s in _job_steps("ci", "pipeline")}
    for cache in ("gated", "dvc-cache"):
        assert release[cache]["with"]["key"].startswith(("gated-${{ steps.profile", "dvc-${{ steps.profile"))
    assert ci["dvc-cache"]["with"]["key"] == release["dvc-cache"]["with"]["key"]
    saved_gated = next(s for s in _job_steps("ci", "pipeline") if s.get("with", {}).get("path") == "gated")
    assert saved_gated["with"]["key"] == release["gated"]["with"]["key"]


def _cache_steps():
    for name, workflow in WORKFLOWS.items():
        for job, step in _steps(workflow):
            if step.get("uses", "").startswith(("actions/cache/save@", "actions/cache/restore@")):
                yield f"{name}.{job}", step


def test_every_cache_is_restored_under_the_path_string_it_was_saved_under() -> None:
    """actions/cache versions an entry by its path strings (getCacheVersion): a restore of `.dvc/cache`
    never finds what `./.dvc/cache` saved. Each key's family must name one path everywhere."""
    paths_of: dict[str, set[str]] = {}
    for _, step in _cache_steps():
        family = step["with"]["key"].split("-", 1)[0]
        if family == "${{ steps.dvc":  # the save of the restored key: the dvc family
            family = "dvc"
        paths_of.setdefault(family, set()).add(step["with"]["path"])
    assert paths_of == {
        "dvc": {"${{ steps.profile.outputs.dvc_cache }}"},
        "reports": {"baseline"},
        "gated": {"gated"},
    }


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
    runs = [s.get("run", "").split(" #")[0] for s in _job_steps("release", "model")]
    verify = runs.index(
        "python3 -m paddy_edge.ci.gated verify --record gated/gated.json"
        ' --model-dir "$WORKSPACE/models/export"'
    )
    assert runs.index("make $PIPELINE") < verify < runs.index('make device-check MODEL_ROOT="$WORKSPACE"')
    # main registered this model when it gated it: the release must not register it again
    assert WORKFLOWS["release"]["jobs"]["model"]["env"]["PADDY_EDGE_REGISTER"] == "false"
    publish = " ".join(s.get("run", "") for s in _job_steps("release", "publish"))
    assert (
        "--verify-tag" in publish
        and "--clobber" in publish
        and "--gated artifacts/model/gated.json" in publish
    )
