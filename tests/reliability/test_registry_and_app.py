"""Issue 11, item 3 (and the gate's half of item 8): the registry and the app never trust a failed model.

Real stage processes on a copy of the `pipeline` workspace with its own SQLite MLflow store; no mocks.
- A registered run that fails a later, tighter gate loses its aliases (the champion too, said aloud, and
  no other version is promoted in its place); its version is tagged gate=failed.
- A run that passes twice keeps one version.
- app-assets installs only a model whose gate.json passed, for the same run and the same model.pte bytes
  (or --force, loudly): a re-export whose evaluation never finished is not vouched for by the old verdict.
- A model evaluated on other pixels than the app feeds it (evaluate.resample: bilinear) fails the gate.
- A wrongly shaped eval.json or bench.json stops the gate with one sentence, not a traceback."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

from ..helpers import ROOT
from ..helpers.cli import cli
from ..helpers.params import set_params
from ..helpers.pipeline import Pipeline

MODEL = "paddy-edge-smoke"  # mlflow.registered_model of the smoke profile


def _set_max_model_mb(workspace: Path, value: float) -> None:
    set_params(workspace, gates={"max_model_mb": value})


def _gate(clone: Pipeline, expected: int) -> tuple[str, dict]:
    result = clone.stage("gate")
    output = result.stdout + result.stderr
    assert result.returncode == expected, output
    assert "Traceback" not in output
    return output, json.loads((clone.workspace / "reports/gate.json").read_text())


def _app(tmp_path: Path) -> Path:
    app = tmp_path / "flutter_app"
    shutil.copytree(ROOT / "flutter_app", app)
    return app


def _app_model(app: Path) -> bytes:
    return (app / "assets/models/model.pte").read_bytes()


def _seed_older_champion(clone: Pipeline) -> mlflow.MlflowClient:
    """An older model of another run is v1 and champion, with a low accuracy."""
    client = mlflow.MlflowClient(clone.tracking_uri)
    experiment = client.create_experiment("older", artifact_location=(clone.workspace / "older").as_uri())
    older = client.create_run(experiment)
    client.log_metric(older.info.run_id, "accuracy.executorch", 0.05)
    client.create_registered_model(MODEL)
    client.create_model_version(MODEL, source=f"{older.info.artifact_uri}/model", run_id=older.info.run_id)
    client.set_registered_model_alias(MODEL, "champion", "1")
    return client


def _aliases(client: mlflow.MlflowClient) -> dict[str, int]:
    return {alias: int(v) for alias, v in client.get_registered_model(MODEL).aliases.items()}


def test_a_run_that_passes_twice_has_one_version(pipeline: Pipeline, tmp_path: Path) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    client = _seed_older_champion(clone)
    _, first = _gate(clone, 0)
    assert first["registry"]["version"] == 2 and first["registry"]["aliases"] == ["candidate", "champion"]
    _, again = _gate(clone, 0)
    versions = client.search_model_versions(f"run_id = '{first['mlflow_run_id']}'")
    assert [int(v.version) for v in versions] == [2], "a run that passes twice has one version"
    assert again["registry"]["version"] == 2 and again["registry"]["reused"]
    assert _aliases(client) == {"candidate": 2, "champion": 2}
    assert client.get_model_version(MODEL, "2").tags["gate"] == "passed"


def test_a_registered_run_that_fails_a_tighter_gate_loses_its_aliases(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    client = _seed_older_champion(clone)
    _, first = _gate(clone, 0)
    assert first["registry"]["version"] == 2 and _aliases(client) == {"candidate": 2, "champion": 2}

    _set_max_model_mb(clone.workspace, 0.001)  # a tighter gate: the same run now fails
    output, failed = _gate(clone, 1)
    assert not failed["passed"] and failed["mlflow_run_id"] == first["mlflow_run_id"]
    assert _aliases(client) == {}, "no alias on a failed model, and the older champion is not put back"
    assert client.get_model_version(MODEL, "2").tags["gate"] == "failed"
    assert sorted(failed["registry"]["removed_aliases"]) == ["candidate", "champion"]
    output = " ".join(output.split())
    assert "It was the champion" in output and "no champion now" in output

    _set_max_model_mb(clone.workspace, 10.0)  # relaxed again: the same version gets its aliases back
    _, passed = _gate(clone, 0)
    assert passed["registry"]["version"] == 2
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 2
    assert _aliases(client) == {"candidate": 2, "champion": 2}
    assert client.get_model_version(MODEL, "2").tags["gate"] == "passed"


def _install(workspace: Path, app: Path, *extra: str, module: bool = False) -> tuple[int, str]:
    import subprocess

    args = ("--from", str(workspace / "models/export"), "--app", str(app), *extra)
    if module:  # the module the workflows run without the package's CLI
        command = [sys.executable, "-m", "paddy_edge.app.app_assets", *args]
        result = subprocess.run(command, capture_output=True, text=True)
    else:
        result = cli("app-assets", *args)
    return result.returncode, (result.stdout + result.stderr).replace("\n", "")  # rich wraps long paths


@pytest.mark.parametrize("module", [False, True], ids=["cli", "ci-module"])
def test_app_assets_installs_only_a_model_whose_gate_passed_for_its_run(
    pipeline: Pipeline, tmp_path: Path, module: bool
) -> None:
    workspace = tmp_path / "ws"
    shutil.copytree(pipeline.workspace / "models/export", workspace / "models/export")
    shutil.copytree(pipeline.workspace / "reports", workspace / "reports")
    gate_file = workspace / "reports/gate.json"
    gate = json.loads(gate_file.read_text())
    assert gate["passed"]
    app = _app(tmp_path)
    placeholder = _app_model(app)

    gate_file.write_text(json.dumps(gate | {"passed": False}))
    code, output = _install(workspace, app, module=module)
    assert code == 2 and "gate" in output and "failed" in output and "--force" in output, output
    assert "Traceback" not in output and _app_model(app) == placeholder

    gate_file.write_text(json.dumps(gate | {"mlflow_run_id": "0" * 32, "train_run_id": "1" * 32}))
    code, output = _install(workspace, app, module=module)
    assert code == 2 and "1" * 32 in output and "not the model" in output, output  # by training run
    assert _app_model(app) == placeholder

    gate_file.unlink()
    code, output = _install(workspace, app, module=module)
    assert code == 2 and "gate.json is missing" in output and "dvc repro" in output, output
    assert _app_model(app) == placeholder

    code, output = _install(workspace, app, "--force", module=module)
    assert code == 0 and "WARNING" in output and "--force" in output, output
    assert _app_model(app) == (workspace / "models/export/model.pte").read_bytes()

    shutil.copytree(pipeline.workspace / "reports", workspace / "reports", dirs_exist_ok=True)
    app = _app(tmp_path / "fresh")
    code, output = _install(workspace, app, module=module)
    assert code == 0 and "WARNING" not in output, output
    assert _app_model(app) == (workspace / "models/export/model.pte").read_bytes()


def test_the_placeholder_needs_no_gate(tmp_path: Path) -> None:
    app = _app(tmp_path)
    result = cli("app-assets", "--placeholder", "--app", str(app), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "content", "stage"),
    [
        ("eval.json", {"accuracy": 0.9}, "evaluate"),
        ("eval.json", {"accuracy": {"lite": "high", "eager": 0.9}, "agreement": {}}, "evaluate"),
        ("eval.json", [0.9], "evaluate"),
        ("bench.json", {}, "bench"),
        ("bench.json", {"lite": {"median_ms": 3.0}}, "bench"),
    ],
)
def test_a_wrongly_shaped_report_stops_the_gate_with_one_sentence(
    pipeline: Pipeline, tmp_path: Path, name: str, content: object, stage: str
) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    (clone.workspace / "reports" / name).write_text(json.dumps(content))
    result = clone.stage("gate")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1, result.stderr
    message = " ".join(result.stderr.split())
    assert f"reports/{name}" in message and f"dvc repro -f {stage}" in message


def test_a_re_export_the_gate_never_judged_is_refused(pipeline: Pipeline, tmp_path: Path) -> None:
    """The same run exported again with other weights (its evaluation then failed or never ran): the
    run ids still match, but the passing gate.json judged other bytes and does not vouch for these."""
    from safetensors.torch import load_file, save_file

    clone = pipeline.clone(tmp_path / "ws")
    app = _app(tmp_path)
    placeholder = _app_model(app)
    weights = clone.workspace / "models/trained/weights.safetensors"
    save_file({k: v * 0.5 for k, v in load_file(str(weights)).items()}, str(weights))
    assert clone.stage("export").returncode == 0
    code, output = _install(clone.workspace, app)
    assert code == 2 and "judged a different model.pte" in output and "dvc repro" in output, output
    assert _app_model(app) == placeholder


def test_a_model_evaluated_on_other_pixels_than_the_apps_fails_the_gate(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """evaluate.resample: bilinear: the accuracy measured is not the phone's (the app resizes nearest)."""
    clone = pipeline.clone(tmp_path / "ws")
    set_params(clone.workspace, evaluate={"resample": "bilinear"})
    for stage in ("export", "evaluate", "bench"):
        assert clone.stage(stage).returncode == 0
    output, report = _gate(clone, 1)
    failed = [check["name"] for check in report["checks"] if not check["passed"]]
    assert failed == ["app input contract (model card)"]
    assert 'input.resample is "bilinear"' in " ".join(output.split())


def test_a_verdict_dvc_would_restore_from_its_run_cache_is_judged_again(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """Fail the gate, put the params back, `dvc repro`: DVC had restored the passing gate.json from its
    run-cache ("Stage 'gate' is cached"), while MLflow kept the run FAILED and no champion. The gate
    runs instead, and the registry follows the verdict that is checked out."""
    clone = pipeline.clone(tmp_path / "ws", dvc_cache=True)
    client = mlflow.MlflowClient(clone.tracking_uri)
    _, passed = _gate(clone, 0)
    run_id, version = passed["mlflow_run_id"], passed["registry"]["version"]
    assert _aliases(client) == {"candidate": version, "champion": version}
    kept = yaml.safe_load((clone.workspace / "params.yaml").read_text())["gates"]["min_accuracy"]

    set_params(clone.workspace, gates={"min_accuracy": 1.0})
    failed = clone.dvc("repro")
    assert failed.returncode != 0 and _aliases(client) == {}
    assert client.get_run(run_id).info.status == "FAILED"

    set_params(clone.workspace, gates={"min_accuracy": kept})
    again = clone.dvc("repro")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Stage 'gate' is cached" not in again.stdout and "Running stage 'gate'" in again.stdout
    assert json.loads((clone.workspace / "reports/gate.json").read_text())["passed"]
    assert _aliases(client) == {"candidate": version, "champion": version}
    assert client.get_run(run_id).info.status == "FINISHED"
    assert client.get_model_version(MODEL, str(version)).tags["gate"] == "passed"
