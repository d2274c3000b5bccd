"""The gate's arithmetic: each threshold in params `gates:` is checked in the right direction."""

from __future__ import annotations

from paddy_edge.gate import checks

from ..conftest import params_with

GATES = params_with().gates


def _metrics(lite=0.95, onnx=0.95, eager=0.95, agree_lite=1.0, agree_onnx=1.0, ms=20.0, mb=5.0):
    evaluation = {
        "accuracy": {"eager": eager, "lite": lite, "onnx": onnx},
        "agreement": {"lite": agree_lite, "onnx": agree_onnx},
    }
    return evaluation, {"lite": {"median_ms": ms, "size_mb": mb}}


def _failed(**kwargs) -> set[str]:
    return {check.name for check in checks(GATES, *_metrics(**kwargs)) if not check.passed}


def test_a_good_model_passes_every_check() -> None:
    results = checks(GATES, *_metrics())
    assert len(results) == 7 and all(check.passed for check in results)


def test_each_threshold_fails_its_own_check() -> None:
    assert _failed(lite=GATES.min_accuracy - 0.01, onnx=0.95, eager=0.95) >= {"accuracy (lite)"}
    assert _failed(onnx=0.95 - GATES.max_accuracy_drop - 0.01) == {"accuracy drop (onnx vs eager)"}
    assert _failed(agree_lite=GATES.min_agreement - 0.01) == {"top-1 agreement (lite vs eager)"}
    assert _failed(ms=GATES.max_latency_ms + 1) == {"median latency ms (lite, batch 1)"}
    assert _failed(mb=GATES.max_model_mb + 0.1) == {"model size MB (model.ptl)"}


def test_thresholds_are_inclusive() -> None:
    assert _failed(lite=GATES.min_accuracy, eager=GATES.min_accuracy, onnx=GATES.min_accuracy) == set()
    assert _failed(ms=GATES.max_latency_ms, mb=GATES.max_model_mb) == set()
