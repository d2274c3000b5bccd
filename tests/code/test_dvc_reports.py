"""What `dvc metrics show` makes of dvc.yaml's reports: a table of the headline metrics only, and no
report declared in a way that costs a stage its run-cache entry (CI and the release restore train and
evaluate from it instead of training again)."""

from __future__ import annotations

import yaml

from paddy_edge import paths

from ..conftest import ROOT

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = DVC_YAML["stages"]
# Headline figures only: what `dvc metrics show` and `dvc metrics diff` print, one column each.
HEADLINE = {"reports/train_metrics.json", "reports/eval.json", "reports/bench.json", "reports/gate.json"}
# Stages whose run-cache entry nobody needs: bench times the formats on the machine that runs it.
NO_RUN_CACHE = {"bench"}


def _entries(stage: dict, kind: str) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for entry in stage.get(kind, []):
        if isinstance(entry, str):
            found[entry] = {}
        else:
            path, options = next(iter(entry.items()))
            found[path] = options or {}
    return found


def test_only_the_headline_reports_are_metrics() -> None:
    """Per-class scores (10 classes x 4) and the data report's per-class counts made one 120-column
    table: they are a plot and a cached output."""
    metrics = {path for stage in STAGES.values() for path in _entries(stage, "metrics")}
    assert metrics <= HEADLINE
    assert {"reports/eval.json", "reports/bench.json", "reports/train_metrics.json"} <= metrics
    assert str(paths.PER_CLASS) in _entries(STAGES["evaluate"], "plots")
    assert str(paths.DATA_REPORT) in _entries(STAGES["prepare"], "outs")


def test_no_uncached_plain_output_outside_bench() -> None:
    """DVC 3 saves no run-cache entry for a stage with a `cache: false` output that is neither a metric
    nor a plot (dvc/stage/__init__.py, `no_cache_outs`): such a stage would run again in CI."""
    for name, stage in STAGES.items():
        uncached = [
            path for path, options in _entries(stage, "outs").items() if options.get("cache") is False
        ]
        assert name in NO_RUN_CACHE or not uncached, (name, uncached)
