"""Stage gate: hold the metrics to params `gates:`. Print a table of every check; fail the stage (and so
`dvc repro` and CI) if any check fails.

The model registry follows the verdict (tracking/registry.py): a pass registers the run's MLflow Model as
`candidate`, and `champion` if it beats the champion; a failure withdraws the run's version. With
PADDY_EDGE_REGISTER=false (set by CI on pull requests) the run's metrics and verdict are still logged but
the registry is left alone: only main and release tags move `candidate` and `champion`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from paddy_edge import paths, rotation
from paddy_edge.card import fingerprints, read_card
from paddy_edge.config import FormatGate, GateParams, Params
from paddy_edge.errors import GatesFailed, UserError
from paddy_edge.formats import PHONE_FORMAT, REGISTRY, phone_of
from paddy_edge.phone.contract import app_contract_problem
from paddy_edge.runtime import outputs
from paddy_edge.tracking import mlflow_runs
from paddy_edge.tracking.registry import (
    REGISTER_ENV,
    register,
    registry_enabled,
    withdraw,
    withdrawn_message,
)


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    op: str  # ">=" or "<="
    threshold: float
    latency: bool = False  # a timing, which a failure re-measures before the gate fails
    format: str | None = None  # the format it judges (gate.json and the PR report's table say so)

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


def checks(gates: GateParams, evaluation: Any, bench: Any, phone: str = PHONE_FORMAT) -> list[Check]:
    """The checks of `gates` on the contents of reports/eval.json and reports/bench.json; the phone's
    own checks are on `phone`, the format of the program the card puts on the phone."""
    ev = Report(evaluation, paths.EVAL_METRICS, "evaluate")
    be = Report(bench, paths.BENCH_SUMMARY, "bench")
    phone_file = REGISTRY[phone].file.name
    result = [
        Check(f"accuracy ({phone})", ev.number("accuracy", phone), ">=", gates.min_accuracy, format=phone)
    ]
    agreement = ev.get("agreement")
    if not isinstance(agreement, dict):
        raise ev.wrong(f"'agreement' is {agreement!r}, not one number per format")
    eager_accuracy = ev.number("accuracy", "eager")
    for fmt in agreement:
        own = gates.formats.get(fmt, FormatGate())  # type: ignore[call-overload]
        max_drop = gates.max_accuracy_drop if own.max_accuracy_drop is None else own.max_accuracy_drop
        min_agreement = gates.min_agreement if own.min_agreement is None else own.min_agreement
        drop = eager_accuracy - ev.number("accuracy", fmt)
        agrees = ev.number("agreement", fmt)
        result.append(Check(f"accuracy drop ({fmt} vs eager)", drop, "<=", max_drop, format=fmt))
        result.append(Check(f"top-1 agreement ({fmt} vs eager)", agrees, ">=", min_agreement, format=fmt))
        if own.max_size_mb is not None:
            size_mb = be.number(fmt, "size_mb")
            result.append(Check(f"size MB ({fmt})", size_mb, "<=", own.max_size_mb, format=fmt))
    result += latency_checks(gates, be, phone)
    size = be.number(phone, "size_mb")
    result.append(Check(f"model size MB ({phone_file})", size, "<=", gates.max_model_mb, format=phone))
    return result


def latency_checks(gates: GateParams, be: Report, phone: str = PHONE_FORMAT) -> list[Check]:
    """The phone's program's ratio to eager (its fastest run over eager's in one rotation, rotation.py)
    and its milliseconds (its best pass's median)."""
    result = []
    if gates.max_latency_ratio is not None:
        ratio = be.number(phone, "ratio_to_eager")
        name = f"latency ratio ({phone} ÷ eager, timed in pairs)"
        result.append(Check(name, ratio, "<=", gates.max_latency_ratio, latency=True, format=phone))
    if gates.max_latency_ms is not None:
        ms = be.number(phone, "median_ms")
        name = f"median latency ms ({phone}, batch 1)"
        result.append(Check(name, ms, "<=", gates.max_latency_ms, latency=True, format=phone))
    return result


def measure_again_if_slow(
    params: Params, results: list[Check], bench: Any, console: Console, phone: str = PHONE_FORMAT
) -> tuple[list[Check], dict | None]:
    """A latency check that fails on bench's figures is timed again, eager and the phone format alone,
    in twice bench's passes: a burst of load during bench must not fail a model. The checks then judge
    both rotations as one (rotation.pooled): load on eager's turns of the second must not pass a model
    that is really slower either. gate.json keeps all three sets of figures."""
    slow = [check.name for check in results if check.latency and not check.passed]
    if not slow:
        return results, None
    formats, passes = ["eager", phone], 2 * params.bench.passes
    console.print(
        f"{'; '.join(slow)}: failed on bench's figures. Timing {' and '.join(formats)} again "
        f"({passes} passes in rotation) before the gate fails.",
        highlight=False,
    )
    again = rotation.measure_again(formats, params.bench, passes)
    first = {fmt: Report(bench, paths.BENCH_SUMMARY, "bench").get(fmt) for fmt in formats}
    # a bench.json from before bench recorded each format's fastest run: the second rotation alone
    both = rotation.pooled(first, again) if all("fastest_ms" in row for row in first.values()) else again
    anew = {
        check.name: check
        for check in latency_checks(params.gates, Report(both, paths.BENCH_RAW, "bench"), phone)
    }
    remeasured = {"bench": first, "again": again, "both": both}
    return [anew.get(check.name, check) for check in results], remeasured


def slow_message(remeasured: dict, phone: str = PHONE_FORMAT) -> str:
    """What failed twice, how steady the two measurements were, and how to measure once more."""
    lines = []
    for when, key in (("in bench", "bench"), ("again", "again")):
        figures = remeasured[key]
        timed = ", ".join(
            f"{fmt} {row['median_ms']:.2f} ms (pass medians spread {row['spread_pct']:.0f}%)"
            for fmt, row in figures.items()
        )
        lines.append(f"{when}: {timed}; {phone} ÷ eager {figures[phone]['ratio_to_eager']:.2f}")
    both = remeasured["both"]
    lines.append(
        f"both together (each one's fastest run of {both['eager']['passes']} passes): "
        f"{phone} ÷ eager {both[phone]['ratio_to_eager']:.2f}"
    )
    lines.append(
        f"The {phone} model is slower than the latency gates allow, measured twice. To measure again "
        f"on a quieter machine: `dvc repro -f -s bench gate` in {Path.cwd()}"
    )
    return "\n".join(lines)


def served_model_metrics(evaluation: Any, bench: Any) -> dict[str, float]:
    """The registered MLflow Model's own figures: it runs the ONNX model (serving/pyfunc.py)."""
    ev = Report(evaluation, paths.EVAL_METRICS, "evaluate")
    be = Report(bench, paths.BENCH_SUMMARY, "bench")
    return {
        "accuracy.onnx": ev.number("accuracy", "onnx"),
        "agreement.onnx": ev.number("agreement", "onnx"),
        "onnx.median_ms": be.number("onnx", "median_ms"),
        "onnx.size_mb": be.number("onnx", "size_mb"),
    }


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


def run(params: Params) -> None:
    """Raises GatesFailed (exit 1) when a check fails, after the report and the MLflow run say which;
    UserError when eval.json or bench.json is not what its stage writes."""
    import mlflow

    evaluation = outputs.read_json(paths.EVAL_METRICS, "evaluate")
    bench = outputs.read_json(paths.BENCH_SUMMARY, "bench")
    card = read_card()
    # Every file of every format, as export wrote it: a file changed since (a truncated model.onnx) was
    # never measured, and the registry must never hold it.
    files = fingerprints(card, paths.EXPORTED)
    contract_problem = app_contract_problem(card)
    console = Console()
    phone = phone_of(card)
    results = [*checks(params.gates, evaluation, bench, phone), contract_check(contract_problem)]
    results, remeasured = measure_again_if_slow(params, results, bench, console, phone)
    failed = [check for check in results if not check.passed]
    passed = not failed
    report: dict = {"passed": passed, "checks": [asdict(c) | {"passed": c.passed} for c in results]}
    if remeasured:
        report["remeasured"] = remeasured
    # The bytes judged: app-assets installs only this program on this verdict (a later export whose
    # evaluation failed leaves this report behind, and it must not vouch for the new model).
    program = paths.EXPORTED / REGISTRY[phone].file.name
    outputs.raise_missing(program, "export")
    report["model_sha256"] = files[program.name]
    report["files"] = files
    register_model = registry_enabled()
    name = params.mlflow.registered_model
    console.print(render(results))
    if contract_problem:
        console.print(f"[bold red]{paths.MODEL_CARD}[/]: {contract_problem}", highlight=False)
    with mlflow_runs.resume_run(params.mlflow.experiment, "gate") as run:
        mlflow.log_metrics({"gate.passed": float(passed), "gate.failed_checks": float(len(failed))})
        mlflow.log_metric("gate.remeasured", float(bool(remeasured)))
        mlflow.set_tag("gate", "passed" if passed else "failed")
        mlflow_runs.log_settings(params, "gates", "mlflow.registered_model")
        # The run the verdict is logged into, and train's run (the same unless training was restored from
        # a cache into a store that never saw it: then a stand-in, mlflow_runs._run_for). app-assets matches
        # the model card's run against either.
        report["mlflow_run_id"] = run.info.run_id
        report["train_run_id"] = mlflow_runs.run_id_from_train()
        accuracy = evaluation["accuracy"][phone]
        if passed and register_model:
            served = served_model_metrics(evaluation, bench)
            report["registry"] = register(name, run.info.run_id, accuracy, model_metrics=served)
        elif passed:
            report["registry_skipped"] = f"{REGISTER_ENV}=false"
        elif register_model:
            withdrawn = withdraw(name, run.info.run_id)
            if withdrawn:
                report["registry"] = withdrawn
        outputs.write_json(paths.GATE_REPORT, report)
        mlflow.log_artifact(str(paths.GATE_REPORT), "reports")
        if not passed:
            mlflow.end_run(status="FAILED")
    if passed and not register_model:
        console.print(f"All gates passed. Not registered: {REGISTER_ENV} is false (a pull-request run).")
    elif passed:
        registry = report["registry"]
        again = " (this run's version, reused)" if registry["reused"] else ""
        if registry["superseded"]:
            older = ", ".join(f"v{v}" for v in registry["superseded"])
            again += f" (a new export of this run: replaces {older}, tagged gate=superseded)"
        console.print(
            f"All gates passed. Registered {registry['registered_model']} v{registry['version']}{again} "
            f"as {' and '.join(registry['aliases'])}."
        )
    else:
        console.print(f"[bold red]{len(failed)} gate(s) failed[/]: the model is not registered.")
        if remeasured and any(check.latency for check in failed):
            console.print(slow_message(remeasured, phone), highlight=False)
        if "registry" in report:
            console.print(withdrawn_message(report["registry"]))
        raise GatesFailed(f"{len(failed)} gate(s) failed")
