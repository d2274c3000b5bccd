"""Stage gate: hold the metrics to params `gates:`. Print a table of every check; fail the stage (and so
`dvc repro` and CI) if any check fails. A passing model is registered in MLflow with the alias
`candidate`, and becomes `champion` only if it also beats the current champion's accuracy.

PADDY_EDGE_REGISTER=false (set by CI on pull requests) keeps the run's metrics and verdict in MLflow but
leaves the registry alone: only main and release tags move `candidate` and `champion`."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from rich.console import Console
from rich.table import Table

from paddy_edge import paths, tracking
from paddy_edge.config import GateParams, Params
from paddy_edge.errors import GatesFailed, UserError
from paddy_edge.formats import PHONE_FORMAT, REGISTRY

ACCURACY_METRIC = f"accuracy.{PHONE_FORMAT}"  # the phone's model, on phone-preprocessed photos
REGISTER_ENV = "PADDY_EDGE_REGISTER"


def registry_enabled(environ: dict[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(REGISTER_ENV, "true").strip().lower()
    if value not in {"true", "false", "1", "0"}:
        raise UserError(f"{REGISTER_ENV}={value!r}: set it to true or false (false: do not register)")
    return value in {"true", "1"}


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    op: str  # ">=" or "<="
    threshold: float

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold if self.op == ">=" else self.value <= self.threshold


def checks(gates: GateParams, evaluation: dict, bench: dict) -> list[Check]:
    accuracy, agreement = evaluation["accuracy"], evaluation["agreement"]
    phone, phone_file = PHONE_FORMAT, REGISTRY[PHONE_FORMAT].file.name
    result = [Check(f"accuracy ({phone})", accuracy[phone], ">=", gates.min_accuracy)]
    for fmt in agreement:
        result.append(
            Check(
                f"accuracy drop ({fmt} vs eager)",
                accuracy["eager"] - accuracy[fmt],
                "<=",
                gates.max_accuracy_drop,
            )
        )
        result.append(Check(f"top-1 agreement ({fmt} vs eager)", agreement[fmt], ">=", gates.min_agreement))
    if gates.max_latency_ratio is not None:
        ratio = bench[phone]["median_ms"] / bench["eager"]["median_ms"]
        result.append(
            Check(f"latency ratio ({phone} ÷ eager, same run)", ratio, "<=", gates.max_latency_ratio)
        )
    if gates.max_latency_ms is not None:
        result.append(
            Check(
                f"median latency ms ({phone}, batch 1)", bench[phone]["median_ms"], "<=", gates.max_latency_ms
            )
        )
    result.append(Check(f"model size MB ({phone_file})", bench[phone]["size_mb"], "<=", gates.max_model_mb))
    return result


def render(results: list[Check]) -> Table:
    table = Table(title="Gates")
    for column in ("check", "value", "threshold", "result"):
        table.add_column(column, justify="left" if column == "check" else "right")
    for check in results:
        verdict = "[green]pass[/]" if check.passed else "[bold red]FAIL[/]"
        table.add_row(check.name, f"{check.value:.4g}", f"{check.op} {check.threshold:g}", verdict)
    return table


def register(name: str, run_id: str, artifact_uri: str, accuracy: float) -> dict:
    """Register the run's model folder as a new version; alias it candidate, and champion if it is better."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="paddy-edge phone model (model.ptl + model card)")
    version = client.create_model_version(name, source=f"{artifact_uri}/model", run_id=run_id)
    client.set_registered_model_alias(name, "candidate", version.version)
    try:
        champion = client.get_model_version_by_alias(name, "champion")
        best = client.get_run(champion.run_id).data.metrics.get(ACCURACY_METRIC, float("-inf"))
    except MlflowException:
        champion, best = None, float("-inf")
    promoted = accuracy > best
    if promoted:
        client.set_registered_model_alias(name, "champion", version.version)
    return {
        "registered_model": name,
        "version": int(version.version),
        "aliases": ["candidate", "champion"] if promoted else ["candidate"],
        "previous_champion": None if champion is None else int(champion.version),
    }


def run(params: Params) -> None:
    """Raises GatesFailed (exit 1) when a check fails, after the report and the MLflow run say which."""
    import mlflow

    evaluation = paths.read_json(paths.EVAL_METRICS, "evaluate")
    bench = paths.read_json(paths.BENCH_SUMMARY, "bench")
    results = checks(params.gates, evaluation, bench)
    failed = [check for check in results if not check.passed]
    passed = not failed
    report: dict = {"passed": passed, "checks": [asdict(c) | {"passed": c.passed} for c in results]}
    register_model = registry_enabled()
    console = Console()
    console.print(render(results))
    with tracking.resume_run(params.mlflow.experiment) as run:
        mlflow.log_metrics({"gate.passed": float(passed), "gate.failed_checks": float(len(failed))})
        mlflow.set_tag("gate", "passed" if passed else "failed")
        tracking.log_settings(params, "gates", "mlflow.registered_model")
        report["mlflow_run_id"] = run.info.run_id
        if passed and register_model:
            report["registry"] = register(
                params.mlflow.registered_model,
                run.info.run_id,
                run.info.artifact_uri,
                evaluation["accuracy"][PHONE_FORMAT],
            )
        elif passed:
            report["registry_skipped"] = f"{REGISTER_ENV}=false"
        paths.write_json(paths.GATE_REPORT, report)
        mlflow.log_artifact(str(paths.GATE_REPORT), "reports")
        if not passed:
            mlflow.end_run(status="FAILED")
    if passed and not register_model:
        console.print(f"All gates passed. Not registered: {REGISTER_ENV} is false (a pull-request run).")
    elif passed:
        registry = report["registry"]
        console.print(
            f"All gates passed. Registered {registry['registered_model']} v{registry['version']} "
            f"as {' and '.join(registry['aliases'])}."
        )
    else:
        console.print(f"[bold red]{len(failed)} gate(s) failed[/]: the model is not registered.")
        raise GatesFailed(f"{len(failed)} gate(s) failed")
