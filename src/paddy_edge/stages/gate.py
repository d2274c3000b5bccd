"""Stage gate: hold the metrics to params `gates:`. Print a table of every check; fail the stage (and so
`dvc repro` and CI) if any check fails.

The registry follows the latest verdict on each run, one version per run. A passing run's version (made
once, found again on a rerun) gets the alias `candidate` and the version tag gate=passed, and becomes
`champion` only if it beats the current champion's accuracy. A run that fails a later gate (a tighter
threshold) loses `candidate` and `champion` and is tagged gate=failed; no other version is promoted in
its place: a failed champion leaves the model without one, and the stage says so.

PADDY_EDGE_REGISTER=false (set by CI on pull requests) keeps the run's metrics and verdict in MLflow but
leaves the registry alone: only main and release tags move `candidate` and `champion`."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from paddy_edge import paths, tracking
from paddy_edge.card import app_contract_problem, read_card
from paddy_edge.config import FormatGate, GateParams, Params
from paddy_edge.errors import GatesFailed, UserError
from paddy_edge.formats import PHONE_FORMAT, REGISTRY

ACCURACY_METRIC = f"accuracy.{PHONE_FORMAT}"  # the phone's model, on phone-preprocessed photos
REGISTER_ENV = "PADDY_EDGE_REGISTER"
GATE_ALIASES = ("candidate", "champion")  # the aliases the gate moves; others are a person's


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


@dataclass(frozen=True)
class Report:
    """A report the gate reads, with what wrote it: a value of the wrong shape is one UserError."""

    data: Any
    path: Path
    made_by: str

    def wrong(self, what: str) -> UserError:
        return UserError(
            f"{self.path} is not what the {self.made_by} stage writes ({what}): rerun "
            f"`dvc repro -f {self.made_by}`"
        )

    def get(self, *keys: str) -> Any:
        value = self.data
        for depth, key in enumerate(keys):
            if not isinstance(value, dict) or key not in value:
                raise self.wrong(f"no '{'.'.join(keys[: depth + 1])}'")
            value = value[key]
        return value

    def number(self, *keys: str) -> float:
        value = self.get(*keys)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.wrong(f"'{'.'.join(keys)}' is {value!r}, not a number")
        return float(value)


def checks(gates: GateParams, evaluation: Any, bench: Any) -> list[Check]:
    """The checks of `gates` on the contents of reports/eval.json and reports/bench.json."""
    ev = Report(evaluation, paths.EVAL_METRICS, "evaluate")
    be = Report(bench, paths.BENCH_SUMMARY, "bench")
    phone, phone_file = PHONE_FORMAT, REGISTRY[PHONE_FORMAT].file.name
    result = [Check(f"accuracy ({phone})", ev.number("accuracy", phone), ">=", gates.min_accuracy)]
    agreement = ev.get("agreement")
    if not isinstance(agreement, dict):
        raise ev.wrong(f"'agreement' is {agreement!r}, not one number per format")
    eager_accuracy = ev.number("accuracy", "eager")
    for fmt in agreement:
        own = gates.formats.get(fmt, FormatGate())  # type: ignore[call-overload]
        max_drop = gates.max_accuracy_drop if own.max_accuracy_drop is None else own.max_accuracy_drop
        min_agreement = gates.min_agreement if own.min_agreement is None else own.min_agreement
        drop = eager_accuracy - ev.number("accuracy", fmt)
        result.append(Check(f"accuracy drop ({fmt} vs eager)", drop, "<=", max_drop))
        result.append(
            Check(f"top-1 agreement ({fmt} vs eager)", ev.number("agreement", fmt), ">=", min_agreement)
        )
        if own.max_size_mb is not None:
            result.append(Check(f"size MB ({fmt})", be.number(fmt, "size_mb"), "<=", own.max_size_mb))
    phone_ms = be.number(phone, "median_ms") if gates.max_latency_ratio or gates.max_latency_ms else 0.0
    if gates.max_latency_ratio is not None:
        eager_ms = be.number("eager", "median_ms")
        if eager_ms <= 0:
            raise be.wrong(f"'eager.median_ms' is {eager_ms}")
        ratio = phone_ms / eager_ms
        result.append(
            Check(f"latency ratio ({phone} ÷ eager, same run)", ratio, "<=", gates.max_latency_ratio)
        )
    if gates.max_latency_ms is not None:
        result.append(Check(f"median latency ms ({phone}, batch 1)", phone_ms, "<=", gates.max_latency_ms))
    size = be.number(phone, "size_mb")
    result.append(Check(f"model size MB ({phone_file})", size, "<=", gates.max_model_mb))
    return result


def contract_check(problem: str | None) -> Check:
    """1 when the card asks for the input the app feeds (its accuracy is the phone's), else 0."""
    return Check("app input contract (model card)", float(problem is None), ">=", 1.0)


def render(results: list[Check]) -> Table:
    table = Table(title="Gates")
    for column in ("check", "value", "threshold", "result"):
        table.add_column(column, justify="left" if column == "check" else "right")
    for check in results:
        verdict = "[green]pass[/]" if check.passed else "[bold red]FAIL[/]"
        table.add_row(check.name, f"{check.value:.4g}", f"{check.op} {check.threshold:g}", verdict)
    return table


def _versions_of_run(client: Any, name: str, run_id: str) -> list[str]:
    """This run's versions of `name`, oldest first (one since versions are reused; an older store may
    hold more)."""
    found = client.search_model_versions(f"run_id = '{run_id}'")
    return sorted((str(v.version) for v in found if v.name == name), key=int)


def register(name: str, run_id: str, artifact_uri: str, accuracy: float) -> dict:
    """The run's version (made on its first pass, reused after) becomes candidate, and champion if better."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="paddy-edge phone model (model.ptl + model card)")
    existing = _versions_of_run(client, name, run_id)
    if existing:
        version = existing[-1]
    else:
        version = str(
            client.create_model_version(name, source=f"{artifact_uri}/model", run_id=run_id).version
        )
    client.set_model_version_tag(name, version, "gate", "passed")
    client.set_registered_model_alias(name, "candidate", version)
    champion = client.get_registered_model(name).aliases.get("champion")
    already = champion is not None and str(champion) == version
    best = float("-inf")
    if champion is not None and not already:
        champion_run = client.get_model_version(name, str(champion)).run_id
        best = client.get_run(champion_run).data.metrics.get(ACCURACY_METRIC, best)
    promoted = already or accuracy > best
    if promoted and not already:
        client.set_registered_model_alias(name, "champion", version)
    return {
        "registered_model": name,
        "version": int(version),
        "reused": bool(existing),
        "aliases": ["candidate", "champion"] if promoted else ["candidate"],
        "previous_champion": None if champion is None else int(champion),
    }


def withdraw(name: str, run_id: str) -> dict | None:
    """A run that failed its latest gate: its versions lose the gate's aliases and are tagged
    gate=failed. None when the run was never registered."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException:
        return None
    versions = _versions_of_run(client, name, run_id)
    if not versions:
        return None
    ours = {alias: str(v) for alias, v in aliases.items() if str(v) in versions}
    removed = sorted(alias for alias in ours if alias in GATE_ALIASES)
    for alias in removed:
        client.delete_registered_model_alias(name, alias)
    for version in versions:
        client.set_model_version_tag(name, version, "gate", "failed")
    return {
        "registered_model": name,
        "versions": [int(v) for v in versions],
        "removed_aliases": removed,
        "other_aliases": sorted(set(ours) - set(removed)),  # set by a person: left to them
    }


def _withdrawn_message(registry: dict) -> str:
    name, versions = registry["registered_model"], ", ".join(f"v{v}" for v in registry["versions"])
    removed, others = registry["removed_aliases"], registry["other_aliases"]
    lines = [f"{name} {versions} (this run) tagged gate=failed."]
    if removed:
        lines.append(f"Removed its alias(es) {' and '.join(removed)}: aliases follow a run's latest verdict.")
    if "champion" in removed:
        lines.append(
            f"[bold]It was the champion: {name} has no champion now[/] (none is promoted in its place); "
            "the next model that passes the gate becomes champion, or set one by hand "
            f"(MlflowClient().set_registered_model_alias('{name}', 'champion', VERSION))."
        )
    if others:
        lines.append(f"Aliases set by hand still point at it: {', '.join(others)}; move them yourself.")
    return "\n".join(lines)


def run(params: Params) -> None:
    """Raises GatesFailed (exit 1) when a check fails, after the report and the MLflow run say which;
    UserError when eval.json or bench.json is not what its stage writes."""
    import mlflow

    evaluation = paths.read_json(paths.EVAL_METRICS, "evaluate")
    bench = paths.read_json(paths.BENCH_SUMMARY, "bench")
    card = read_card()
    contract_problem = app_contract_problem(card)
    results = [*checks(params.gates, evaluation, bench), contract_check(contract_problem)]
    failed = [check for check in results if not check.passed]
    passed = not failed
    report: dict = {"passed": passed, "checks": [asdict(c) | {"passed": c.passed} for c in results]}
    # The bytes judged: app-assets installs only this model.ptl on this verdict (a later export whose
    # evaluation failed leaves this report behind, and it must not vouch for the new model).
    paths.raise_missing(paths.LITE_MODEL, "export")
    report["model_sha256"] = paths.sha256(paths.LITE_MODEL)
    register_model = registry_enabled()
    name = params.mlflow.registered_model
    console = Console()
    console.print(render(results))
    if contract_problem:
        console.print(f"[bold red]{paths.MODEL_CARD}[/]: {contract_problem}", highlight=False)
    with tracking.resume_run(params.mlflow.experiment, "gate") as run:
        mlflow.log_metrics({"gate.passed": float(passed), "gate.failed_checks": float(len(failed))})
        mlflow.set_tag("gate", "passed" if passed else "failed")
        tracking.log_settings(params, "gates", "mlflow.registered_model")
        # The run the verdict is logged into, and train's run (the same unless training was restored from
        # a cache into a store that never saw it: then a stand-in, tracking._run_for). app-assets matches
        # the model card's run against either.
        report["mlflow_run_id"] = run.info.run_id
        report["train_run_id"] = tracking.run_id_from_train()
        accuracy = evaluation["accuracy"][PHONE_FORMAT]
        if passed and register_model:
            report["registry"] = register(name, run.info.run_id, run.info.artifact_uri, accuracy)
        elif passed:
            report["registry_skipped"] = f"{REGISTER_ENV}=false"
        elif register_model:
            withdrawn = withdraw(name, run.info.run_id)
            if withdrawn:
                report["registry"] = withdrawn
        paths.write_json(paths.GATE_REPORT, report)
        mlflow.log_artifact(str(paths.GATE_REPORT), "reports")
        if not passed:
            mlflow.end_run(status="FAILED")
    if passed and not register_model:
        console.print(f"All gates passed. Not registered: {REGISTER_ENV} is false (a pull-request run).")
    elif passed:
        registry = report["registry"]
        again = " (this run's version, reused)" if registry["reused"] else ""
        console.print(
            f"All gates passed. Registered {registry['registered_model']} v{registry['version']}{again} "
            f"as {' and '.join(registry['aliases'])}."
        )
    else:
        console.print(f"[bold red]{len(failed)} gate(s) failed[/]: the model is not registered.")
        if "registry" in report:
            console.print(_withdrawn_message(report["registry"]))
        raise GatesFailed(f"{len(failed)} gate(s) failed")
