"""dvc.yaml stays true to the code: each stage depends on every module it imports (directly or through
another module of the package), on nothing else of src/, and declares exactly the outputs paths.py says
it writes. A stale dep reruns nothing when it should; a missing one hides a change from `dvc repro`.

A folder of the package whose every module a stage imports is named as the folder (DVC hashes it
whole; .dvcignore keeps __pycache__ out), the rest module by module."""

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
# train's processes run training/worker.py (launch starts it by module name with train's entry point).
ALSO_RUNS["train"] = [SRC / "paddy_edge/training/worker.py"]
# A module that runs another as a script, in a python of its own: the tflite formats' converter runs in
# .venv-tflite (litert-torch needs an older torch than the pipeline's).
RUNS_SCRIPT = {SRC / "paddy_edge/formats/tflite_formats.py": SRC / "paddy_edge/formats/tflite_convert.py"}


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


def _with_packages(name: str) -> list[Path]:
    """The module's file and its packages' __init__.py, which Python runs first."""
    parts = name.split(".")
    found = [_module_file(".".join(parts[:n])) for n in range(2, len(parts) + 1)]
    return [file for file in found if file]


# config.py checks export.formats against the format registry (its _registry): check-params' dep alone.
# Which formats exist changes no other stage's outputs, and check-params reruns and checks params.yaml.
CONFIG, REGISTRY = SRC / "paddy_edge/config.py", "paddy_edge.formats"


def imported_files(start: list[Path], checks_params: bool = False) -> set[Path]:
    seen, todo = set(start), list(start)
    while todo:
        file = todo.pop()
        for name in _imports(file):
            if file == CONFIG and name.startswith(REGISTRY) and not checks_params:
                continue
            for found in _with_packages(name):
                if found not in seen:
                    seen.add(found)
                    todo.append(found)
        script = RUNS_SCRIPT.get(file)
        if script is not None and script not in seen:
            seen.add(script)
            todo.append(script)
    return seen


def _modules_of(folder: Path) -> set[Path]:
    return {file for file in folder.rglob("*.py") if "__pycache__" not in file.parts}


def code_deps(files: set[Path]) -> list[str]:
    """`files` as dvc.yaml lists them: each package folder they cover whole, then the other modules."""
    left, folders = set(files), []
    packages = sorted(
        (f.parent for f in (SRC / "paddy_edge").rglob("*/__init__.py")), key=lambda f: len(f.parts)
    )
    for folder in packages:
        if _modules_of(folder) <= left:
            folders.append(folder)
            left -= _modules_of(folder)
    return [str(p.relative_to(ROOT)) for p in [*folders, *sorted(left)]]


def stage_code_deps(stage: str) -> list[str]:
    own = SRC / f"paddy_edge/stages/{stage}.py"
    return code_deps(imported_files([own, *ALSO_RUNS.get(stage, [])]))


@pytest.mark.parametrize("stage", [s.name for s in STAGES])
def test_a_stages_code_deps_are_exactly_the_modules_it_imports(stage: str) -> None:
    declared = [d for d in DVC[stage]["deps"] if d.startswith(("src/", "benchmarks/"))]
    expected = stage_code_deps(stage)
    assert sorted(declared) == sorted(expected), (
        "dvc.yaml's code deps of " + stage + ":\n" + "\n".join(expected)
    )


def test_a_folder_dep_is_named_only_where_the_stage_imports_all_of_it() -> None:
    """fetch imports every module of data/ but layout; train imports all of training/."""
    fetch, train = stage_code_deps("fetch"), stage_code_deps("train")
    assert "src/paddy_edge/data" not in fetch and "src/paddy_edge/data/archive.py" in fetch
    assert "src/paddy_edge/training" in train and "src/paddy_edge/training/ddp.py" not in train


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
    assert SRC / "paddy_edge/model.py" in files and SRC / "paddy_edge/phone/preprocess.py" in files
    assert SRC / "paddy_edge/data/archive.py" not in files


def test_the_params_check_reruns_on_any_change_of_params_yaml_and_on_its_code() -> None:
    """Tracking the whole file (`params.yaml:` with no keys) is what catches a misspelt section or key
    that no stage lists; its code deps are the validation's modules."""
    stage = DVC[PARAMS_CHECK]
    assert stage["cmd"] == f"python -m paddy_edge {PARAMS_CHECK}"
    assert stage["params"] == [{"params.yaml": None}]
    assert sorted(stage["deps"]) == sorted(code_deps(imported_files([CONFIG], checks_params=True)))
    assert not {"outs", "metrics", "plots"} & set(stage)
