"""The modules the workflows' jobs run without the pipeline's venv (paddy_edge.ci, paddy_edge.app, paths,
errors) import with torch, mlflow, typer and pydantic unimportable, and nothing imports in a cycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import ROOT
from ..pipeline.test_dvc_deps import _imports, _module_file

HEAVY = ("torch", "mlflow", "typer", "pydantic", "numpy", "yaml", "fastai", "timm")
STDLIB_ONLY = [
    "paddy_edge.paths",
    "paddy_edge.runtime.outputs",
    "paddy_edge.phone.contract",
    "paddy_edge.errors",
    "paddy_edge.card",
    "paddy_edge.runtime.interrupts",
    "paddy_edge.runtime.orphans",
    "paddy_edge.data.kaggle_source",
    "paddy_edge.ci.report",
    "paddy_edge.ci.release",
    "paddy_edge.app.app_assets",
    "paddy_edge.ci.gated",
    "paddy_edge.app.apk_check",
    "paddy_edge.ci.profile",
    "paddy_edge.ci.flutter_lock",
    "paddy_edge.ci.ios_project",
    "paddy_edge.ci.github_standin",
    "paddy_edge.ci.github",
    "paddy_edge.ci.local",
    "paddy_edge.ci.act_folders",
    "paddy_edge.app.page_alignment",
    "paddy_edge.pte",
    "paddy_edge.tflite_file",
    "paddy_edge.dvc_remote",
    "paddy_edge.format_table",
]


@pytest.mark.parametrize("module", STDLIB_ONLY)
def test_imports_and_runs_help_without_the_pipelines_dependencies(module: str, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    for name in HEAVY:
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed here')\n")
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        env={"PYTHONPATH": f"{blocked}:{ROOT / 'src'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("room", ["ci", "app"])
def test_ci_and_app_modules_import_only_standard_library_modules_of_the_package(room: str) -> None:
    # the standard-library modules above, and preprocess (device_check runs it in torch 2.1.0's venv); ci
    # may use the app's checks (a release checks its APKs), the app nothing of ci
    phone = {"paddy_edge.phone.preprocess"}
    allowed = {m for m in STDLIB_ONLY if not m.startswith(f"paddy_edge.{room}.")} | phone
    if room == "app":
        allowed = {m for m in allowed if not m.startswith("paddy_edge.ci.")}
    for file in (ROOT / f"src/paddy_edge/{room}").glob("*.py"):
        for name in _imports(file):
            target = _module_file(name)
            if target is None or f"/{room}/" in str(target):
                continue
            if target.name == "__init__.py" and not _imports(target):
                continue  # a package whose __init__ imports nothing: only its docstring runs
            module = ".".join(target.relative_to(ROOT / "src").with_suffix("").parts)
            assert module in allowed, f"{room}/{file.name} imports {module}"


def test_no_import_cycle() -> None:
    graph = {}
    for file in (ROOT / "src/paddy_edge").rglob("*.py"):
        # `from paddy_edge.formats import onnx_formats` in formats/__init__ names the package itself
        graph[file] = {t for t in (_module_file(n) for n in _imports(file)) if t is not None and t != file}

    def reaches(start: Path, goal: Path, seen: set[Path]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = [str(f.relative_to(ROOT)) for f in graph if reaches(f, f, set())]
    assert cycles == []
