"""What `dvc metrics show` and `dvc plots show` make of dvc.yaml's reports: a table of the headline metrics
only, every plot drawn once, and no report declared in a way that costs a stage its run-cache entry (CI
and the release restore train and evaluate from it instead of training again)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

from paddy_edge import paths

from ..helpers import ROOT

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = DVC_YAML["stages"]
# Headline figures only: what `dvc metrics show` and `dvc metrics diff` print, one column each.
HEADLINE = {"reports/train_metrics.json", "reports/eval.json", "reports/bench.json", "reports/gate.json"}


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


def test_no_stage_has_an_uncached_plain_output() -> None:
    """DVC 3 saves no run-cache entry for a stage with a `cache: false` output that is neither a metric
    nor a plot (dvc/stage/__init__.py, `no_cache_outs`): such a stage would run again in CI, and bench,
    run again on a release's runner, would judge new figures of a model main already passed."""
    for name, stage in STAGES.items():
        uncached = [
            path for path, options in _entries(stage, "outs").items() if options.get("cache") is False
        ]
        assert not uncached, (name, uncached)


def _fake_reports(workspace: Path) -> None:
    reports = workspace / "reports"
    reports.mkdir()
    (reports / "train_history.csv").write_text(
        "epoch,train_loss,valid_loss,accuracy,time\n0,2.3,2.2,0.1,00:03\n1,1.9,1.8,0.3,00:03\n"
    )
    (reports / "per_class.csv").write_text(
        "class,precision,recall,f1,support\nblast,0.8,0.5,0.6,8\nhispa,1,1,1,8\n"
    )
    (reports / "predictions.csv").write_text("image,actual,predicted\na.jpg,blast,blast\nb.jpg,hispa,blast\n")
    (reports / "formats.csv").write_text(
        "format,size_mb,median_ms,accuracy\neager,5.4,76.7,0.8\nlite,5.4,7.9,0.8\n"
    )
    for name in ("confusion.png", "formats.png"):
        (reports / name).write_bytes(b"\x89PNG\r\n\x1a\n")  # drawn as is: DVC does not decode it


def test_every_plot_is_drawn_once(tmp_path: Path) -> None:
    """`dvc plots show` draws each stage `plots:` entry and each top-level entry: a file that both
    declare is drawn twice. Counted by DVC itself, on dvc.yaml with small reports of the right shape."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    _fake_reports(tmp_path)
    script = (
        "import json\n"
        "from dvc.repo import Repo\n"
        "from dvc.render.match import match_defs_renderers\n"
        "renderers = match_defs_renderers(Repo('.').plots.show())\n"
        "drawn = []\n"
        "for found in renderers:\n"
        "    r = found.renderer\n"
        "    ys = r.properties.get('anchors_y_definitions') or [{'filename': r.name, 'field': None}]\n"
        "    drawn.append([r.name, sorted((y['filename'], y['field'] or '') for y in ys)])\n"
        "print(json.dumps(drawn))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    drawn = yaml.safe_load(shown.stdout.strip().splitlines()[-1])
    names = Counter(name for name, _ in drawn)
    assert [name for name, count in names.items() if count > 1] == []
    series = Counter(tuple(pair) for _, pairs in drawn for pair in pairs)
    assert [pair for pair, count in series.items() if count > 1] == []  # no (file, column) drawn twice
    files = {pair[0] for pair in series}
    for stage in STAGES.values():
        for path in _entries(stage, "plots"):
            assert path in files, f"{path} is declared as a plot but not drawn"
    assert len(drawn) == 7, drawn  # loss, accuracy, F1 per class, confusion (2), size-latency (2)
