"""dvc.yaml stays true to the code: each stage depends on every module it imports (directly or through
another module of the package), on nothing else of src/, and declares exactly the outputs paths.py says
it writes. A stale dep reruns nothing when it should; a missing one hides a change from `dvc repro`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from paddy_edge import paths
from paddy_edge.stages import STAGES

from ..helpers import ROOT

SRC = ROOT / "src"
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# What a stage runs besides its own module: rotation.py runs the pytest-benchmark file in subprocesses,
# for bench and for the gate's second measurement of a latency check that failed.
ALSO_RUNS = {stage: [ROOT / "benchmarks/test_latency.py"] for stage in ("bench", "gate")}


def _module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        # paddy_edge/__init__ holds the version; stages/__init__ runs every stage, not what one computes.
        # A package like formats/ registers what its modules hold: it is the code a stage runs.
        return None if name in {"paddy_edge", "paddy_edge.stages"} else base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def _imports(file: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(file.read_text())):  # function-level imports too
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] == "paddy_edge"}


def imported_files(start: list[Path]) -> set[Path]:
    seen, todo = set(start), list(start)
    while todo:
        for name in _imports(todo.pop()):
            found = _module_file(name)
            if found and found not in seen:
                seen.add(found)
                todo.append(found)
    return seen


@pytest.mark.parametrize("stage", [s.name for s in STAGES])
def test_a_stages_code_deps_are_exactly_the_modules_it_imports(stage: str) -> None:
    own = SRC / f"paddy_edge/stages/{stage}.py"
    expected = {str(f.relative_to(ROOT)) for f in imported_files([own, *ALSO_RUNS.get(stage, [])])}
    declared = {d for d in DVC[stage]["deps"] if d.startswith(("src/", "benchmarks/"))}
    assert declared == expected


def test_rewording_the_pr_comment_reruns_no_stage() -> None:
    """bench's formats table is format_table.py, which the PR report imports too: ci/report.py, the
    comment's wording, is no stage's dependency (it was bench's, and so the gate's)."""
    assert not [stage for stage, spec in DVC.items() if "src/paddy_edge/ci/report.py" in spec.get("deps", [])]


def _declared_outputs(stage: dict) -> set[str]:
    return {
        next(iter(entry)) if isinstance(entry, dict) else entry
        for kind in ("outs", "metrics", "plots")
        for entry in stage.get(kind, [])
    }


PARAMS_CHECK = "check-params"  # dvc.yaml's first entry: validates params.yaml, writes nothing


def test_stages_are_dvc_yamls_stages_in_its_order_and_write_what_paths_says() -> None:
    assert [PARAMS_CHECK, *(s.name for s in STAGES)] == list(DVC)
    assert [s.name for s in STAGES] == list(paths.OUTPUTS)
    for name, stage in DVC.items():
        if name == PARAMS_CHECK:
            continue
        assert stage["cmd"] == f"python -m paddy_edge {name}"
        assert _declared_outputs(stage) == {str(p) for p in paths.OUTPUTS[name]}, name


def test_the_checker_notices_a_missing_module() -> None:
    """evaluate runs the eager model through formats.py, which builds it with model.py."""
    files = imported_files([SRC / "paddy_edge/stages/evaluate.py"])
    assert SRC / "paddy_edge/model.py" in files and SRC / "paddy_edge/preprocess.py" in files
    assert SRC / "paddy_edge/data/archive.py" not in files


def test_the_params_check_reruns_on_any_change_of_params_yaml_and_on_its_code() -> None:
    """Tracking the whole file (`params.yaml:` with no keys) is what catches a misspelt section or key
    that no stage lists; its code deps are the validation's modules."""
    stage = DVC[PARAMS_CHECK]
    assert stage["cmd"] == f"python -m paddy_edge {PARAMS_CHECK}"
    assert stage["params"] == [{"params.yaml": None}]
    expected = {str(f.relative_to(ROOT)) for f in imported_files([SRC / "paddy_edge/config.py"])}
    assert set(stage["deps"]) == expected
    assert not {"outs", "metrics", "plots"} & set(stage)
