"""The model registry follows the gate's latest verdict on each run, one version per run.

A passing run's version (made once, found again on a rerun) is its MLflow Model (serving/pyfunc.py); it
gets the alias `candidate` and the version tag gate=passed, and becomes `champion` only if it beats the
current champion's accuracy. A run that fails a later gate loses `candidate` and `champion` and is tagged
gate=failed; no other version is promoted in its place.

A failed champion leaves the model without one, and the gate says so. PADDY_EDGE_REGISTER=false (set by
CI on pull requests) leaves the registry alone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from paddy_edge import paths
from paddy_edge.errors import UserError
from paddy_edge.formats import PHONE_FORMAT
from paddy_edge.runtime import outputs

ACCURACY_METRIC = f"accuracy.{PHONE_FORMAT}"  # the phone's model, on phone-preprocessed photos
REGISTER_ENV = "PADDY_EDGE_REGISTER"
GATE_ALIASES = ("candidate", "champion")  # the aliases the gate moves; others are a person's
MODEL_DESCRIPTION = (
    "paddy-edge: photos of rice leaves -> disease. Each version is a gated run's MLflow Model (the ONNX "
    "model behind the phone's preprocessing; `make serve` serves the champion) with model.pte, the "
    "phone's model, beside it."
)


def registry_enabled(environ: dict[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(REGISTER_ENV, "true").strip().lower()
    if value not in {"true", "false", "1", "0"}:
        raise UserError(f"{REGISTER_ENV}={value!r}: set it to true or false (false: do not register)")
    return value in {"true", "1"}


def _versions_of_run(client: Any, name: str, run_id: str) -> list[str]:
    """This run's versions of `name`, oldest first (one since versions are reused; an older store may
    hold more)."""
    found = client.search_model_versions(f"run_id = '{run_id}'")
    return sorted((str(v.version) for v in found if v.name == name), key=int)


FILES_TAG = "paddy_edge.files_sha256"  # a version's model.onnx and model.pte: which export it holds


def export_fingerprint(export_dir: Path) -> str:
    return ",".join(outputs.sha256(export_dir / file.name) for file in (paths.ONNX_MODEL, paths.PHONE_MODEL))


def register(
    name: str,
    run_id: str,
    accuracy: float,
    export_dir: Path = paths.EXPORTED,
    model_metrics: dict[str, float] | None = None,
) -> dict:
    """The run's version of this export (made on its first pass, reused after) becomes candidate, and
    champion if better. A new version's source is the MLflow Model logged here, in the active run
    (serving/pyfunc.py): the ONNX model behind the app's preprocessing, with model.pte, labels.txt and the
    card beside it. A new export of the same run (other export params) is a new version: it replaces
    the run's older ones, which are tagged gate=superseded and lose the gate's aliases to it."""
    import mlflow
    from mlflow import MlflowClient

    from paddy_edge.serving import pyfunc

    client = MlflowClient()
    fingerprint = export_fingerprint(export_dir)
    ours = _versions_of_run(client, name, run_id)
    same = [v for v in ours if client.get_model_version(name, v).tags.get(FILES_TAG) == fingerprint]
    if same:
        version = same[-1]
    else:
        logged = pyfunc.log_model(export_dir)
        if model_metrics:  # shown on the logged model's page, beside the run's
            mlflow.log_metrics(model_metrics, run_id=run_id, model_id=logged.model_id)
        # register_model, not client.create_model_version: it also links the logged model to its version
        created = mlflow.register_model(logged.model_uri, name, tags={FILES_TAG: fingerprint})
        version = str(created.version)
    superseded = [v for v in ours if v != version]
    for old in superseded:
        client.set_model_version_tag(name, old, "gate", "superseded")
    if not client.get_registered_model(name).description:
        client.update_registered_model(name, description=MODEL_DESCRIPTION)
    client.set_model_version_tag(name, version, "gate", "passed")
    client.set_registered_model_alias(name, "candidate", version)
    champion = client.get_registered_model(name).aliases.get("champion")
    already = champion is not None and str(champion) == version
    replaces = champion is not None and str(champion) in superseded  # this run's older export
    best = float("-inf")
    if champion is not None and not already and not replaces:
        champion_run = client.get_model_version(name, str(champion)).run_id
        best = client.get_run(champion_run).data.metrics.get(ACCURACY_METRIC, best)
    promoted = already or replaces or accuracy > best
    if promoted and not already:
        client.set_registered_model_alias(name, "champion", version)
    return {
        "registered_model": name,
        "version": int(version),
        "reused": bool(same),
        "superseded": [int(v) for v in superseded],
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


def withdrawn_message(registry: dict) -> str:
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
