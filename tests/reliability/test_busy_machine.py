"""Latency verdicts that load cannot flip: bench and the gate run while a busy loop holds every core (a
neighbour's build on a laptop or a shared runner). A correct model passes the ratio gate; a phone model
that really is several times slower still fails it; figures a burst of load spoiled are measured again
before the gate fails. Every assertion is on a verdict, never on a time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from paddy_edge import paths
from paddy_edge.formats import ExportSpec
from paddy_edge.formats.executorch_formats import _write_executorch
from paddy_edge.model import ModelSpec, load_trained
from paddy_edge.runtime import outputs

from ..helpers.params import set_params
from ..helpers.pipeline import Pipeline, params_with
from .conftest import busy_cores

pytestmark = pytest.mark.slow

RATIO_CHECK = "latency ratio (executorch ÷ eager, timed in pairs)"


def _ratio_gate_on(clone: Pipeline) -> float:
    """The shipped ratio gate (TEST_OVERLAY turns it off), and enough rounds to be a measurement."""
    ratio = params_with().gates.max_latency_ratio
    set_params(clone.workspace, gates={"max_latency_ratio": ratio}, bench={"rounds": 10, "warmup_rounds": 2})
    return ratio


def _ratio_check(clone: Pipeline) -> dict:
    gate = json.loads((clone.workspace / paths.GATE_REPORT).read_text())
    return next(check for check in gate["checks"] if check["name"] == RATIO_CHECK)


# The phone's program (ExecuTorch) runs the smoke model in 0.26-0.43x eager's time: five times its work
# sat at 1.3x eager, under the 1.5 gate (measured with a busy loop on each core). Fifteen is 4x or more.
TIMES_THE_WORK = 15


class SlowerPhoneModel(torch.nn.Module):
    """The same answers as the trained network at TIMES_THE_WORK its cost: a phone model that got slower."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.network(x)
        for extra in range(1, TIMES_THE_WORK):  # other inputs, or the compiler would merge the calls
            logits = logits + 0.0 * self.network(x + extra)
        return logits


def _slow_phone_model(workspace: Path) -> None:
    network, spec = load_trained(workspace / paths.WEIGHTS, workspace / paths.MODEL_SPEC)
    card = json.loads((workspace / paths.MODEL_CARD).read_text())
    model = ModelSpec(spec.arch, spec.labels, spec.image_size, spec.mean, spec.std)
    program = workspace / paths.PHONE_MODEL
    _write_executorch(SlowerPhoneModel(network).eval(), ExportSpec(model, card, 17), program)
    # as export records what it wrote: the gate judges only files the card vouches for
    card["files"][program.name] = {"bytes": program.stat().st_size, "sha256": outputs.sha256(program)}
    card["phone"]["sha256"] = card["files"][program.name]["sha256"]
    (workspace / paths.MODEL_CARD).write_text(json.dumps(card, indent=2))


def test_a_correct_model_passes_the_ratio_gate_on_a_busy_machine(pipeline: Pipeline, tmp_path: Path) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    limit = _ratio_gate_on(clone)
    # Run from inside a pytest (this suite under xdist) or with a user's PYTEST_ADDOPTS: neither may
    # reach bench's own pytest-benchmark processes (xdist's variables alone turned every timing off).
    clone.env |= {"PYTEST_XDIST_WORKER": "gw7", "PYTEST_ADDOPTS": "--benchmark-disable"}

    with busy_cores():
        bench = clone.stage("bench")
        gate = clone.stage("gate")

    assert bench.returncode == 0, bench.stdout[-3000:] + bench.stderr[-3000:]
    assert gate.returncode == 0, gate.stdout[-3000:] + gate.stderr[-3000:]
    check = _ratio_check(clone)
    assert check["passed"] and check["threshold"] == limit


def test_a_really_slower_phone_model_fails_the_ratio_gate_on_a_busy_machine(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    _ratio_gate_on(clone)
    _slow_phone_model(clone.workspace)

    with busy_cores():
        bench = clone.stage("bench")
        gate = clone.stage("gate")

    assert bench.returncode == 0, bench.stdout[-3000:] + bench.stderr[-3000:]
    assert gate.returncode == 1, gate.stdout[-3000:] + gate.stderr[-3000:]
    assert not _ratio_check(clone)["passed"]
    report = json.loads((clone.workspace / paths.GATE_REPORT).read_text())
    remeasured = report["remeasured"]
    assert set(remeasured) == {"bench", "again", "both"}  # measured twice before it failed
    # judged on both rotations as one: load on eager's turns of the second alone passed it (0.76x)
    assert _ratio_check(clone)["value"] == remeasured["both"]["executorch"]["ratio_to_eager"]
    out = " ".join(gate.stdout.split())
    assert "Timing eager and executorch again" in out and "measured twice" in out
    assert f"`dvc repro -f -s bench gate` in {clone.workspace}" in out
    assert "Traceback" not in gate.stderr


def test_figures_a_burst_of_load_spoiled_are_measured_again_before_the_gate_fails(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """The first `make smoke` of a new user on a busy laptop: the phone's program timed in a burst, 5x
    eager. A rerun used to judge the same stale bench.json again; now the gate times the pair again and
    passes."""
    clone = pipeline.clone(tmp_path / "ws")
    _ratio_gate_on(clone)
    bench_json = clone.workspace / paths.BENCH_SUMMARY
    spoiled = json.loads(bench_json.read_text())
    spoiled["executorch"]["median_ms"] *= 8
    spoiled["executorch"]["ratio_to_eager"] = 4.946
    bench_json.write_text(json.dumps(spoiled))

    with busy_cores():
        gate = clone.stage("gate")

    assert gate.returncode == 0, gate.stdout[-3000:] + gate.stderr[-3000:]
    assert _ratio_check(clone)["passed"]
    remeasured = json.loads((clone.workspace / paths.GATE_REPORT).read_text())["remeasured"]
    assert remeasured["bench"]["executorch"]["ratio_to_eager"] == 4.946
    assert remeasured["again"]["executorch"]["ratio_to_eager"] < 1.5
    assert _ratio_check(clone)["value"] == remeasured["both"]["executorch"]["ratio_to_eager"] < 1.5
