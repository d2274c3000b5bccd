"""The gate's arithmetic: each threshold in params `gates:` is checked in the right direction."""

from __future__ import annotations

import pytest

from paddy_edge.config import read_yaml
from paddy_edge.errors import UserError
from paddy_edge.stages.gate import checks
from paddy_edge.tracking.registry import registry_enabled

from ..helpers import ROOT
from ..helpers.pipeline import TEST_OVERLAY, params_with

GATES = params_with().gates


def _metrics(
    phone=0.95, onnx=0.95, eager=0.95, agree_phone=1.0, agree_onnx=1.0, ms=20.0, eager_ms=25.0, mb=5.0
):
    evaluation = {
        "accuracy": {"eager": eager, "executorch": phone, "onnx": onnx},
        "agreement": {"executorch": agree_phone, "onnx": agree_onnx},
    }
    phone_row = {"median_ms": ms, "size_mb": mb, "ratio_to_eager": ms / eager_ms}
    return evaluation, {"executorch": phone_row, "eager": {"median_ms": eager_ms, "ratio_to_eager": 1.0}}


def _failed(gates=GATES, **kwargs) -> set[str]:
    return {check.name for check in checks(gates, *_metrics(**kwargs)) if not check.passed}


def test_a_good_model_passes_every_check() -> None:
    results = checks(GATES, *_metrics())
    assert len(results) == 8 and all(check.passed for check in results)


def test_each_threshold_fails_its_own_check() -> None:
    assert _failed(phone=GATES.min_accuracy - 0.01, onnx=0.95, eager=0.95) >= {"accuracy (executorch)"}
    assert _failed(onnx=0.95 - GATES.max_accuracy_drop - 0.01) == {"accuracy drop (onnx vs eager)"}
    assert _failed(agree_phone=GATES.min_agreement - 0.01) == {"top-1 agreement (executorch vs eager)"}
    assert _failed(ms=GATES.max_latency_ms + 1, eager_ms=1000) == {"median latency ms (executorch, batch 1)"}
    assert _failed(mb=GATES.max_model_mb + 0.1) == {"model size MB (model.pte)"}


def test_latency_ratio_is_the_phone_format_over_eager_of_the_same_run() -> None:
    """A loaded machine slows both formats alike: the ratio holds where milliseconds do not."""
    slow_machine = _failed(
        ms=64.0 * 3, eager_ms=90.0 * 3, gates=params_with({"gates": {"max_latency_ms": None}}).gates
    )
    assert slow_machine == set()
    ratio = GATES.max_latency_ratio
    assert _failed(ms=10.0 * ratio + 0.5, eager_ms=10.0) == {
        "latency ratio (executorch ÷ eager, timed in pairs)"
    }
    assert _failed(ms=10.0 * ratio, eager_ms=10.0) == set()


def test_latency_gates_can_be_off_and_are_off_in_smoke_and_tests() -> None:
    off = params_with({"gates": {"max_latency_ratio": None, "max_latency_ms": None}}).gates
    names = {check.name for check in checks(off, *_metrics(ms=10_000.0, eager_ms=1.0))}
    assert not any("latency" in name for name in names) and len(names) == 6
    assert read_yaml(ROOT / "profiles/smoke.yaml")["gates"]["max_latency_ms"] is None
    assert TEST_OVERLAY["gates"] == {"max_latency_ratio": None, "max_latency_ms": None}


def test_thresholds_are_inclusive() -> None:
    assert _failed(phone=GATES.min_accuracy, eager=GATES.min_accuracy, onnx=GATES.min_accuracy) == set()
    assert _failed(ms=GATES.max_latency_ms, eager_ms=GATES.max_latency_ms, mb=GATES.max_model_mb) == set()


def test_registry_switch_reads_true_or_false_and_refuses_anything_else() -> None:
    assert registry_enabled({}) is True
    assert registry_enabled({"PADDY_EDGE_REGISTER": "false"}) is False
    assert registry_enabled({"PADDY_EDGE_REGISTER": "True"}) is True
    with pytest.raises(UserError, match="PADDY_EDGE_REGISTER='maybe': set it to true or false"):
        registry_enabled({"PADDY_EDGE_REGISTER": "maybe"})


def test_the_phone_checks_judge_the_program_the_card_puts_on_the_phone() -> None:
    """With export.phone_int8 the app runs executorch_int8: its accuracy, latency and size are the gate's
    phone checks."""
    evaluation = {"accuracy": {"eager": 0.95, "executorch_int8": 0.95}, "agreement": {"executorch_int8": 1.0}}
    row = {"median_ms": 20.0, "size_mb": 2.0, "ratio_to_eager": 0.8}
    bench = {"executorch_int8": row, "eager": {"median_ms": 25.0, "ratio_to_eager": 1.0}}
    names = {check.name for check in checks(GATES, evaluation, bench, "executorch_int8")}
    assert {"accuracy (executorch_int8)", "model size MB (model.int8.pte)"} <= names
    assert "latency ratio (executorch_int8 ÷ eager, timed in pairs)" in names
