"""The scripts the workflows call, run here for real: the PR report and its comment upsert (against a
local HTTP server speaking the GitHub REST calls it makes), signing setup, APK verification,
checksums and release notes."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import urllib.error
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from paddy_edge.app import apk_check
from paddy_edge.app.app_assets import APP_ASSETS
from paddy_edge.ci import gated, release
from paddy_edge.ci import report as ci_report
from paddy_edge.ci.github import GitHub, MissingSetting
from paddy_edge.ci.github_standin import GitHubStandIn
from paddy_edge.errors import UserError

from ..app.test_app_assets import passed_gate
from ..helpers import ROOT
from ..helpers.pipeline import Pipeline

SRC = str(ROOT / "src")
BOT = ci_report.BOT


def _run_module(module: str, *args: str, env: dict | None = None, without: Path | None = None):
    """Run a workflow script as the workflow does, `python3 -m ...` with src/ on the path; `without`
    is a folder whose torch package refuses to import (a job without the pipeline's dependencies)."""
    path = SRC if without is None else f"{without}:{SRC}"
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
    )


# --- the pull-request report -------------------------------------------------------------------------


def test_report_shows_everything_a_reviewer_decides_on(pipeline: Pipeline, tmp_path: Path) -> None:
    """Rendered from a real pipeline's reports against a baseline where main was 0.05 less accurate."""
    reports = pipeline.workspace / "reports"
    baseline = tmp_path / "baseline"
    shutil.copytree(reports, baseline)
    evaluation = json.loads((baseline / "eval.json").read_text())
    evaluation["accuracy"]["lite"] -= 0.05
    (baseline / "eval.json").write_text(json.dumps(evaluation))
    bench = json.loads((reports / "bench.json").read_text())
    labels = list(pd.read_csv(reports / "per_class.csv")["class"])

    body = ci_report.render(reports, baseline, "smoke", "https://example.invalid/artifacts/1")
    sections = body.split("\n### ")

    assert body.startswith(ci_report.MARKER)
    gates, diff, formats, per_class, confusion = sections[1:]
    assert gates.startswith("Gates\n**All gates passed.**") and "| accuracy (executorch) |" in gates
    assert "| latency ratio" not in gates  # the tests turn both latency gates off
    assert "| eval.json | accuracy.lite |" in diff and "| +0.05 | ↑ 🟢 |" in diff
    assert "other metric(s) equal main's" in diff and "per_class." not in diff
    timed = [fmt for fmt in bench if fmt != "compute_limit"]
    for fmt in timed:
        assert f"| {fmt} | {bench[fmt]['size_mb']:.2f} |" in formats
    assert "| lite |" in formats and "| 1.000 |" in formats  # agreement with eager
    assert formats.count("\n| ") == len(timed) + 2  # header, separator, one row per format
    assert "| × smaller |" in formats and "| × limit |" in formats and "Compute limit" in formats
    for label in labels:
        assert f"| {label} |" in per_class
    rows = [line for line in confusion.splitlines() if re.match(r"^\| \d+\. ", line)]
    assert len(rows) == len(labels) == 10
    counts = [int(cell.strip(" *")) for row in rows for cell in row.split("|")[2:-1] if cell.strip() != "·"]
    assert sum(counts) == json.loads((reports / "eval.json").read_text())["valid_images"]
    assert "(https://example.invalid/artifacts/1)" in confusion


def test_metric_arrows_say_which_way_is_better() -> None:
    assert ci_report._arrow("accuracy.lite", 0.8, 0.9) == "↑ 🟢"
    assert ci_report._arrow("lite.median_ms", 5.0, 6.0) == "↑ 🔴"
    assert ci_report._arrow("lite.size_mb", 5.0, 4.0) == "↓ 🟢"
    assert ci_report._arrow("valid_images", 80, 70) == "↓"


def test_report_without_baseline_or_gate_says_so(tmp_path: Path) -> None:
    body = ci_report.render(tmp_path, None, "smoke", "")
    assert "No baseline from main yet" in body and "stopped before the gate stage" in body


def test_profile_is_smoke_without_kaggle_credentials_and_real_with(tmp_path: Path) -> None:
    empty = {"HOME": str(tmp_path), "KAGGLE_CONFIG_DIR": str(tmp_path / "none")}
    smoke = _run_module("paddy_edge.ci.profile", env=empty)
    assert smoke.stdout.splitlines() == [
        "profile=smoke",
        "workspace=.smoke",
        "dvc_cache=.smoke/.dvc/cache",
        "make=smoke",
    ]
    real = _run_module("paddy_edge.ci.profile", env={**empty, "KAGGLE_API_TOKEN": "t0ken"})
    assert real.stdout.splitlines() == [
        "profile=real",
        "workspace=.",
        "dvc_cache=.dvc/cache",  # never ./.dvc/cache: actions/cache versions an entry by its path strings
        "make=pull-cache repro",
    ]
    assert "t0ken" not in real.stdout


def test_a_release_may_ask_for_either_profile_whatever_the_credentials(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "KAGGLE_API_TOKEN": "t0ken"}
    assert "profile=smoke" in _run_module("paddy_edge.ci.profile", "--profile", "smoke", env=env).stdout
    wrong = _run_module("paddy_edge.ci.profile", "--profile", "staging", env=env)
    assert (
        wrong.returncode == 1 and wrong.stderr.strip() == "error: profile 'staging' is not one of real, smoke"
    )


@pytest.fixture
def github():
    with GitHubStandIn() as api:
        for i in range(150):
            api.comments.add("org/paddy", 7, f"someone else's comment {i}", login="octocat")
        # A person quoting the report carries the marker too: the upsert must leave their comment alone.
        api.comments.add("org/paddy", 7, f"> {ci_report.MARKER} looks wrong", login="octocat")
        api.comments.add("org/other", 7, f"{ci_report.MARKER} another repository's report")
        yield api


def test_comment_is_created_once_then_updated_in_place(github: GitHubStandIn, tmp_path: Path) -> None:
    env = {"GITHUB_TOKEN": "gh-token", "GITHUB_REPOSITORY": "org/paddy", "GITHUB_API_URL": github.url}
    for attempt in ("first push", "second push"):
        report = tmp_path / "report.md"
        report.write_text(f"{ci_report.MARKER}\nreport of the {attempt}")
        result = _run_module("paddy_edge.ci.report", "post", "--file", str(report), "--pr", "7", env=env)
        assert result.returncode == 0, result.stderr
    ours = [c for c in github.comments.of("org/paddy", 7) if c["user"]["login"] == BOT]
    assert len(ours) == 1 and ours[0]["body"].endswith("second push")
    assert github.comments.of("org/paddy", 7)[150]["body"] == f"> {ci_report.MARKER} looks wrong"
    assert github.comments.of("org/other", 7)[0]["body"].endswith("another repository's report")
    assert "PR #7: report comment updated" in result.stdout and "gh-token" not in result.stdout
    # two pages on each push (151 comments of others, then ours), then one create and one update
    methods = [method for method, _ in github.comments.calls]
    assert methods == ["GET", "GET", "POST", "GET", "GET", "PATCH"]


def test_the_apk_check_is_a_comment_of_its_own_beside_the_report(
    github: GitHubStandIn, tmp_path: Path
) -> None:
    """The flutter job's `post --kind apk` makes and updates its own comment (its marker put on top) and
    never touches the pipeline's report comment, nor the report the APK comment."""
    env = {"GITHUB_TOKEN": "gh-token", "GITHUB_REPOSITORY": "org/paddy", "GITHUB_API_URL": github.url}
    report, apk = tmp_path / "report.md", tmp_path / "apk-report.md"
    report.write_text(f"{ci_report.MARKER}\nthe gates")
    for sizes in ("arm64 41 MB", "arm64 38 MB"):
        apk.write_text(f"## The built APK\n{sizes}")
        posted = _run_module(
            "paddy_edge.ci.report", "post", "--kind", "apk", "--file", str(apk), "--pr", "7", env=env
        )
        assert posted.returncode == 0 and "PR #7: apk comment" in posted.stdout, posted.stderr
        assert (
            _run_module(
                "paddy_edge.ci.report", "post", "--file", str(report), "--pr", "7", env=env
            ).returncode
            == 0
        )
    ours = [c["body"] for c in github.comments.of("org/paddy", 7) if c["user"]["login"] == BOT]
    assert sorted(ours) == sorted(
        [f"{ci_report.MARKER}\nthe gates", f"{ci_report.MARKERS['apk']}\n## The built APK\narm64 38 MB"]
    )


def test_the_stand_in_refuses_a_call_without_a_token(github: GitHubStandIn) -> None:
    with pytest.raises(urllib.error.HTTPError, match="401"):
        GitHub("org/paddy", "", github.url).request("GET", "/repos/org/paddy/issues/7/comments")
    with pytest.raises(urllib.error.HTTPError, match="404"):
        GitHub("org/paddy", "gh-token", github.url).request("GET", "/repos/org/paddy/pulls")


def test_the_client_reads_its_settings_from_a_workflows_environment() -> None:
    """GitHub Enterprise (or make ci-local's stand-in) through GITHUB_API_URL; github.com without it; the
    token never in the client's repr (a traceback or a log line that prints it)."""
    env = {"GITHUB_TOKEN": "gh-secret", "GITHUB_REPOSITORY": "org/paddy"}
    assert GitHub.from_environment(env).api == "https://api.github.com"
    enterprise = GitHub.from_environment({**env, "GITHUB_API_URL": "https://ghe.example/api/v3"})
    assert enterprise.api == "https://ghe.example/api/v3" and "gh-secret" not in repr(enterprise)
    for missing in ("GITHUB_TOKEN", "GITHUB_REPOSITORY"):
        with pytest.raises(MissingSetting, match="GITHUB_TOKEN and GITHUB_REPOSITORY"):
            GitHub.from_environment({k: v for k, v in env.items() if k != missing})


# --- the release ----------------------------------------------------------------------------------------


def test_signing_is_debug_without_secrets_and_release_with_all(tmp_path: Path) -> None:
    android = tmp_path / "android"
    assert release.configure_signing(android, {}) == "debug" and not android.exists()
    with pytest.raises(UserError, match="set ANDROID_KEY_ALIAS, ANDROID_KEY_PASSWORD too"):
        release.configure_signing(
            android, {"ANDROID_KEYSTORE_BASE64": "AA==", "ANDROID_KEYSTORE_PASSWORD": "p"}
        )
    secrets = {
        "ANDROID_KEYSTORE_BASE64": base64.b64encode(b"keystore bytes").decode(),
        "ANDROID_KEYSTORE_PASSWORD": "store-secret-1",
        "ANDROID_KEY_ALIAS": "upload",
        "ANDROID_KEY_PASSWORD": "key-secret-2",
    }
    result = _run_module("paddy_edge.ci.release", "signing", "--android-dir", str(android), env=secrets)
    assert result.stdout.strip() == "APK signing: release"
    assert "secret" not in result.stdout + result.stderr
    assert (android / "app/upload-keystore.jks").read_bytes() == b"keystore bytes"
    properties = (android / "key.properties").read_text()
    assert "storeFile=upload-keystore.jks" in properties and "keyAlias=upload" in properties
    assert (android / "key.properties").stat().st_mode & 0o077 == 0


def _apk(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as apk:
        apk.writestr("AndroidManifest.xml", b"binary xml")
        apk.writestr("lib/arm64-v8a/libexecutorch.so", b"elf")
        for name, data in files.items():
            apk.writestr(apk_check.APK_ASSET_PREFIX + APP_ASSETS[name], data)
    return path


def test_apk_verification_accepts_the_gated_model_and_names_what_differs(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    model = tiny_bundle
    files = {name: (model / name).read_bytes() for name in APP_ASSETS}
    good = _apk(tmp_path / "app-release.apk", files)
    assert release.verify_apk(good, model) == []
    stale = _apk(tmp_path / "app-arm64-v8a-release.apk", {**files, "model.pte": b"an older model"})
    assert release.verify_apk(stale, model) == [
        "app-arm64-v8a-release.apk: assets/flutter_assets/assets/models/model.pte differs from "
        f"{model / 'model.pte'} (sha256)"
    ]
    missing = _apk(tmp_path / "app-x86_64-release.apk", {"model.pte": files["model.pte"]})
    assert len(release.verify_apk(missing, model)) == 2
    result = _run_module(
        "paddy_edge.ci.release", "verify-apk", str(good), str(stale), "--model-dir", str(model)
    )
    assert result.returncode == 2 and "app-arm64-v8a-release.apk" in result.stderr


def test_apk_with_the_placeholder_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for name, target in APP_ASSETS.items():
        shutil.copyfile(ROOT / "flutter_app" / target, model / name)
    files = {name: (model / name).read_bytes() for name in APP_ASSETS}
    apk = _apk(tmp_path / "app-release.apk", files)
    assert release.verify_apk(apk, model) == ["app-release.apk: ships the untrained placeholder model"]


def test_checksums_verify_with_sha256sum_and_notes_say_how_it_was_signed(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    for name in ("app-release.apk", "model.pte"):
        (dist / name).write_bytes(name.encode() * 100)
    sums = tmp_path / "SHA256SUMS"
    release.write_checksums(sorted(dist.iterdir()), sums)
    check = subprocess.run(["sha256sum", "-c", str(sums)], cwd=dist, capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.count(": OK") == 2

    card = json.loads((ROOT / "flutter_app/assets/models/model_card.json").read_text())
    notes = release.release_notes(
        "v1.2.0", card, "**All gates passed.**\n| check |", "debug", sums.read_text()
    )
    assert notes.startswith("# paddy-edge v1.2.0") and "**All gates passed.**" in notes
    assert "Debug-signed" in notes and "app-release.apk" in notes
    assert "Debug-signed" not in release.release_notes("v1", card, "", "release", "")


def test_app_assets_install_runs_without_torch(tiny_bundle: Path, tmp_path: Path) -> None:
    """The APK job has Python but not the pipeline's dependencies."""
    app = tmp_path / "flutter_app"
    shutil.copytree(ROOT / "flutter_app", app)
    export = passed_gate(tiny_bundle, tmp_path / "export")
    no_torch = tmp_path / "no-torch"
    (no_torch / "torch").mkdir(parents=True)
    (no_torch / "torch/__init__.py").write_text("raise ImportError('torch is not installed in this job')\n")
    result = _run_module(
        "paddy_edge.app.app_assets",
        *("--from", str(export), "--app", str(app), "--gate", str(export / "gate.json")),
        without=no_torch,
    )
    assert result.returncode == 0, result.stderr
    assert (app / "assets/models/model.pte").read_bytes() == (export / "model.pte").read_bytes()


# --- the release ships what main gated ---------------------------------------------------------------


def test_main_records_its_gated_model_and_the_release_accepts_only_that(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    record = tmp_path / "gated"
    result = _run_module(
        "paddy_edge.ci.gated",
        "record",
        "--workspace",
        str(pipeline.workspace),
        "--commit",
        "c0ffee" * 6,
        "--out",
        str(record),
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads((record / "gated.json").read_text())
    gate = json.loads((pipeline.workspace / "reports/gate.json").read_text())
    assert payload["commit"] == "c0ffee" * 6 and payload["mlflow_run_id"] == gate["mlflow_run_id"]
    assert payload["profile"] == "real"  # the default; ci.yml names the profile it ran
    assert set(payload["files"]) == set(gated.SHIPPED)
    assert (record / "reports/gate.json").read_text() == (
        pipeline.workspace / "reports/gate.json"
    ).read_text()

    model = tmp_path / "export"
    shutil.copytree(pipeline.workspace / "models/export", model)
    verify = (
        "paddy_edge.ci.gated",
        "verify",
        "--record",
        str(record / "gated.json"),
        "--model-dir",
        str(model),
    )
    assert _run_module(*verify).returncode == 0
    (model / "model.pte").write_bytes(b"a model trained again on the release runner")
    retrained = _run_module(*verify)
    assert retrained.returncode == 2
    assert "model.pte differs from the model.pte that main gated at c0ffeec0ffee" in retrained.stderr
    assert "Traceback" not in retrained.stderr


def _gated_workspace(pipeline: Pipeline, workspace: Path) -> Path:
    """A copy of the pipeline's reports and export folder, to damage before `ci.gated record`."""
    shutil.copytree(pipeline.workspace / "reports", workspace / "reports")
    shutil.copytree(pipeline.workspace / "models/export", workspace / "models/export")
    return workspace


def _record(workspace: Path, out: Path) -> subprocess.CompletedProcess:
    return _run_module(
        "paddy_edge.ci.gated", "record", "--workspace", str(workspace), "--commit", "abc", "--out", str(out)
    )


def test_a_failed_gate_is_never_recorded(pipeline: Pipeline, tmp_path: Path) -> None:
    workspace = _gated_workspace(pipeline, tmp_path / "ws")
    gate = json.loads((workspace / "reports/gate.json").read_text()) | {"passed": False}
    (workspace / "reports/gate.json").write_text(json.dumps(gate))
    result = _record(workspace, tmp_path / "g")
    assert result.returncode == 2 and "the gates failed" in result.stderr
    assert not (tmp_path / "g").exists()


def test_a_passed_gate_of_other_model_bytes_is_never_recorded(pipeline: Pipeline, tmp_path: Path) -> None:
    """export ran again after the gate (and a later stage failed): the old verdict is not this model's."""
    workspace = _gated_workspace(pipeline, tmp_path / "ws")
    (workspace / "models/export/model.pte").write_bytes(b"exported again, never judged")
    result = _record(workspace, tmp_path / "g")
    assert result.returncode == 2 and "did not judge this" in result.stderr, result.stderr
    assert not (tmp_path / "g").exists()


def test_release_notes_name_the_commit_and_run_main_gated() -> None:
    card = json.loads((ROOT / "flutter_app/assets/models/model_card.json").read_text())
    record = {"commit": "1234567890abcdef", "mlflow_run_id": "run-42", "files": {}}
    notes = release.release_notes("v2.0.0", card, "**All gates passed.**", "release", "", record)
    assert "commit `1234567890abcdef`" in notes and "MLflow run `run-42`" in notes
    assert "Smoke model" not in notes


def test_a_smoke_models_release_says_so_first() -> None:
    card = json.loads((ROOT / "flutter_app/assets/models/model_card.json").read_text())
    record = {"commit": "1234567890abcdef", "profile": "smoke", "mlflow_run_id": "run-7", "files": {}}
    notes = release.release_notes("v0.1.0", card, "**All gates passed.**", "debug", "", record)
    title, _, warning = notes.split("\n")[:3]
    assert title == "# paddy-edge v0.1.0" and warning == "> [!WARNING]"
    assert "does not recognise rice diseases" in notes


def test_the_format_table_gives_each_formats_ratios_against_eager_and_the_compute_limit(
    tmp_path: Path,
) -> None:
    bench = {
        "eager": {"size_mb": 8.0, "median_ms": 20.0, "fps": 50.0, "x_limit": 8.0},
        "onnx_int8": {"size_mb": 2.0, "median_ms": 5.0, "fps": 200.0, "x_limit": 2.0},
        "compute_limit": {"gemm_gflops": 150.0, "model_gflop": 0.375, "limit_ms": 2.5, "threads": 2},
    }
    evaluation = {"accuracy": {"eager": 0.95, "onnx_int8": 0.94}, "agreement": {"onnx_int8": 0.97}}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    table = ci_report.format_table(tmp_path)
    assert "| onnx_int8 | 2.00 | 4.00 | 0.940 | +0.010 | 0.970 | 5.00 | — | 0.25 | 2.00 |" in table
    assert "| eager | 8.00 | 1.00 | 0.950 | — | — | 20.00 | — | 1.00 | 8.00 |" in table
    # bench.json of a run in rotation: the pairs' ratio, not the two best medians', and the spread
    bench["onnx_int8"] |= {"spread_pct": 12.4, "ratio_to_eager": 0.3}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    assert "| 5.00 | 12% | 0.30 | 2.00 |" in ci_report.format_table(tmp_path)
    assert (
        "Compute limit 2.50 ms: the model's 0.375 GFLOP per photo" in table and "compute_limit |" not in table
    )


def test_a_format_that_failed_its_gate_is_marked_in_the_table(tmp_path: Path) -> None:
    bench = {
        "eager": {"size_mb": 8.0, "median_ms": 20.0, "fps": 50.0},
        "lite": {"size_mb": 8.0, "median_ms": 15.0, "fps": 66.7},
        "onnx_int8": {"size_mb": 2.0, "median_ms": 5.0, "fps": 200.0},
    }
    gate = {
        "passed": False,
        "checks": [
            {"name": "accuracy (lite)", "format": "lite", "passed": True},
            {"name": "top-1 agreement (onnx_int8 vs eager)", "format": "onnx_int8", "passed": False},
            {"name": "size MB (onnx_int8)", "format": "onnx_int8", "passed": False},
            {"name": "app input contract (model card)", "format": None, "passed": False},
        ],
    }
    for name, content in (("bench.json", bench), ("eval.json", {}), ("gate.json", gate)):
        (tmp_path / name).write_text(json.dumps(content))
    table = ci_report.format_table(tmp_path)
    assert "| **onnx_int8** ❌ | 2.00 |" in table and "| lite | 8.00 |" in table
    assert "❌ failed its gates: onnx_int8" in table
    assert ci_report.failed_formats(
        {"checks": [{"name": "median latency ms (lite, batch 1)", "format": "lite", "passed": False}]}
    ) == {"lite"}


def _bundle_with_formats(out: Path, names: tuple[str, ...]) -> dict:
    from paddy_edge import formats
    from paddy_edge.data.labels import PADDY_LABELS
    from paddy_edge.model import IMAGENET_MEAN, IMAGENET_STD, ModelSpec
    from paddy_edge.stages.export import model_metadata, tiny_network, write_bundle

    model = ModelSpec("tiny", list(PADDY_LABELS), 32, IMAGENET_MEAN, IMAGENET_STD)
    spec = formats.ExportSpec(model, {**model_metadata(model, "nearest", "run-7"), "placeholder": False}, 17)
    out.mkdir(parents=True)
    return write_bundle(tiny_network(len(PADDY_LABELS)), spec, out, name="tiny", names=names)


def test_the_publish_step_ships_every_gated_format_and_checks_each_against_the_card(tmp_path: Path) -> None:
    """release.yml's "Checksums and release notes" step, run by bash as the runner runs it, on the
    artifacts the model and apk jobs upload: every file the card lists goes into the release (not
    only model.pte), SHA256SUMS covers them, and the notes list each format."""
    from .test_workflow_contract import _job_steps

    step = next(s for s in _job_steps("release", "publish") if s.get("name") == "Checksums and release notes")
    model = tmp_path / "artifacts/model"
    card = _bundle_with_formats(model, ("lite", "onnx", "executorch"))
    for name in ("gate.md", "gated.json", "gate.json"):  # main's reports travel with the model
        (model / name).write_text("{}" if name.endswith(".json") else "**All gates passed.**")
    (tmp_path / "artifacts/apk").mkdir()
    (tmp_path / "artifacts/apk/app-release.apk").write_bytes(b"apk")
    (tmp_path / "artifacts/ios").mkdir()  # the ios job's artifact: one zip, its name the job's output
    (tmp_path / "artifacts/ios/paddy-edge-ios-unsigned-v1.0.0.zip").write_bytes(b"zip")
    env = {"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin", "TAG": "v1.0.0", "SIGNING": "debug"}
    env |= {"IOS_ASSET": "paddy-edge-ios-unsigned-v1.0.0.zip"}
    env |= {"PYTHON": sys.executable}
    command = step["run"].replace("python3 ", f"{sys.executable} ")
    result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

    shipped = sorted(p.name for p in (tmp_path / "release").iterdir())
    assert shipped == sorted(
        [*card["files"], "model_card.json", "app-release.apk", "paddy-edge-ios-unsigned-v1.0.0.zip"]
    )
    assert {"model.ptl", "model.onnx", "labels.txt"} <= set(shipped) and "gate.json" not in shipped
    check = subprocess.run(
        ["sha256sum", "-c", str(tmp_path / "SHA256SUMS")],
        cwd=tmp_path / "release",
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and check.stdout.count(": OK") == len(shipped)
    notes = (tmp_path / "notes.md").read_text()
    assert "**executorch** (the app's): `model.pte`" in notes and "**onnx**: `model.onnx`" in notes
    assert "**lite**: `model.ptl`" in notes
    assert "## iOS (unsigned): `paddy-edge-ios-unsigned-v1.0.0.zip`" in notes


def test_model_files_refuse_a_file_that_is_not_the_one_the_card_describes(tmp_path: Path) -> None:
    model = tmp_path / "model"
    _bundle_with_formats(model, ("lite", "onnx"))
    (model / "model.onnx").write_bytes(b"something else")
    model_files = ("model-files", "--card", str(model / "model_card.json"), "--out", str(tmp_path / "r"))
    result = _run_module("paddy_edge.ci.release", *model_files)
    assert result.returncode == 2 and "model.onnx is not the file" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    (model / "model.onnx").unlink()
    result = _run_module("paddy_edge.ci.release", *model_files)
    assert result.returncode == 2 and "model.onnx is missing" in result.stderr, result.stderr
