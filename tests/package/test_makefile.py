"""What `make` would run (`make -n` into a scratch venv path): the torch variant, the lint-only install,
and pins that agree with pyproject.toml and requirements/."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from ..helpers import ROOT

VENVS = ("VENV", "DEVICE_VENV", "TFLITE_VENV")  # scratch paths: make plans every install as from nothing


def _dry_run(target: str, tmp_path: Path, *variables: str) -> str:
    result = subprocess.run(
        ["make", "-n", target, *(f"{name}={tmp_path / name}" for name in VENVS), *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _pins(lines) -> dict[str, str]:
    return dict(
        re.match(r"^([\w.-]+)==(\S+)", line).groups() for line in lines if re.match(r"^[\w.-]+==", line)
    )


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_cpu_wheels_install_the_pinned_torch_and_torchvision_from_pytorchs_cpu_index(tmp_path: Path) -> None:
    pinned = _pins(PROJECT["dependencies"])
    commands = _dry_run("setup", tmp_path, "TORCH_WHEELS=cpu").splitlines()
    cpu = next(line for line in commands if "--index-url" in line)
    assert "--no-deps --index-url https://download.pytorch.org/whl/cpu" in cpu
    assert cpu.endswith(f"torch=={pinned['torch']} torchvision=={pinned['torchvision']}")
    assert commands.index(cpu) < next(i for i, line in enumerate(commands) if '-e ".[dev,serve]"' in line)


def test_default_wheels_are_pypis_and_an_unknown_variant_is_refused(tmp_path: Path) -> None:
    assert "--index-url" not in _dry_run("setup", tmp_path)
    wrong = subprocess.run(
        ["make", "-n", "setup", "TORCH_WHEELS=gpu"], cwd=ROOT, capture_output=True, text=True
    )
    assert wrong.returncode != 0 and "TORCH_WHEELS is 'gpu': use default" in wrong.stderr


def test_device_venv_gets_the_apps_torch_on_cpu_wheels_too(tmp_path: Path) -> None:
    direct = _pins((ROOT / "requirements/device/requirements.txt").read_text().splitlines())
    tree = _pins((ROOT / "requirements/device/constraints.txt").read_text().splitlines())
    assert direct["torch"] == tree["torch"] == "2.1.0"  # PyTorch Android 2.1.0 inside pytorch_lite 4.3.2
    assert all(tree[name] == version for name, version in direct.items())
    commands = _dry_run("device-setup", tmp_path, "TORCH_WHEELS=cpu")
    assert "--no-deps --index-url https://download.pytorch.org/whl/cpu torch==2.1.0" in commands


def test_tflite_venv_gets_a_torch_litert_torch_accepts_and_never_the_pipelines(tmp_path: Path) -> None:
    direct = _pins((ROOT / "requirements/tflite/requirements.txt").read_text().splitlines())
    tree = _pins((ROOT / "requirements/tflite/constraints.txt").read_text().splitlines())
    assert direct["litert-torch"] == tree["litert-torch"] == "0.10.0"  # requires torch >=2.4,<2.15
    assert direct["torch"] == tree["torch"] == "2.13.0"
    assert all(tree[name] == version for name, version in direct.items())
    assert not {"timm", "fastai", "torchvision", "tensorflow"} & set(tree)  # it converts a .pt2
    commands = _dry_run("tflite-setup", tmp_path, "TORCH_WHEELS=cpu")
    assert "--no-deps --index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in commands
    assert "-r requirements/tflite/requirements.txt -c requirements/tflite/constraints.txt" in commands
    assert "--index-url" not in _dry_run("tflite-setup", tmp_path)


def test_lint_installs_only_the_lint_tools_at_the_projects_pins(tmp_path: Path) -> None:
    commands = _dry_run("lint", tmp_path)
    assert "-r requirements/lint.txt" in commands and ".[dev]" not in commands and "torch" not in commands
    lint = _pins((ROOT / "requirements/lint.txt").read_text().splitlines())
    dev = _pins(PROJECT["optional-dependencies"]["dev"])
    tree = _pins((ROOT / "requirements/constraints.txt").read_text().splitlines())
    assert set(lint) == {"ruff", "check-jsonschema", "zizmor"}
    assert all(dev[name] == tree[name] == version for name, version in lint.items())


def test_dependabot_leaves_the_pinned_torches_and_their_cuda_wheels_alone_and_groups_updates() -> None:
    updates = yaml.safe_load((ROOT / ".github/dependabot.yml").read_text())["updates"]
    pip = {u["directory"]: u for u in updates if u["package-ecosystem"] == "pip"}
    assert set(pip) == {"/", "/requirements/device", "/requirements/tflite"}
    # litert-torch caps torch (0.10.0: torch < 2.15): the converter's torch moves with it, by hand
    assert {i["dependency-name"] for i in pip["/requirements/tflite"]["ignore"]} == {"torch"}
    assert (ROOT / "requirements/tflite/requirements.txt").is_file()
    # torch 2.1.0's CUDA build pins triton and the nvidia-* wheels exactly: a bump of one breaks the venv
    ignored = {i["dependency-name"] for i in pip["/requirements/device"]["ignore"]}
    assert ignored == {"torch", "numpy", "triton", "nvidia-*"}
    device_pins = (ROOT / "requirements/device/constraints.txt").read_text().splitlines()
    assert any(pin.startswith("triton==") for pin in device_pins)
    assert any(pin.startswith("nvidia-") for pin in device_pins)
    assert "ignore" not in pip["/"]
    for update in updates:
        assert update["schedule"]["interval"] == "weekly"
        assert [group["patterns"] for group in update["groups"].values()] == [["*"]]
    assert (ROOT / "requirements/device/requirements.txt").is_file()  # the name Dependabot's pip looks for


def test_serve_picks_the_real_runs_model_by_its_card_whatever_formats_it_built(tmp_path: Path) -> None:
    """A real run is recognised by its model card, as MODEL_ROOT does, not by model.ptl (lite is optional)."""
    for name in ("Makefile", "params.yaml", "profiles/smoke.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())

    def served_name() -> str:
        result = subprocess.run(
            ["make", "-n", "-o", "setup", "serve", f"VENV={tmp_path / 'v'}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        return re.search(r"--model '([^']+)'", result.stdout).group(1)

    real = yaml.safe_load((ROOT / "params.yaml").read_text())["mlflow"]["registered_model"]
    smoke = yaml.safe_load((ROOT / "profiles/smoke.yaml").read_text())["mlflow"]["registered_model"]
    assert served_name() == smoke
    (tmp_path / "models/export").mkdir(parents=True)
    (tmp_path / "models/export/model_card.json").write_text("{}")
    assert served_name() == real


@pytest.mark.parametrize("target", ["smoke", "repro"])
def test_listing_a_tflite_format_makes_the_pipeline_build_its_converters_venv(
    tmp_path: Path, target: str
) -> None:
    """The pipeline job of ci.yml runs `make smoke` or `make repro`: no workflow edit when a team opts in."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "requirements/tflite").mkdir(parents=True)
    for name in ("requirements.txt", "constraints.txt"):
        shutil.copy(ROOT / "requirements/tflite" / name, tmp_path / "requirements/tflite" / name)
    params = (ROOT / "params.yaml").read_text()

    def plan() -> str:
        venvs = [f"{name}={tmp_path / name}" for name in VENVS]
        result = subprocess.run(
            ["make", "-n", "-o", "setup", target, *venvs], cwd=tmp_path, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    (tmp_path / "params.yaml").write_text(params)
    assert "requirements/tflite" not in plan()
    listed = yaml.safe_load(params)["export"]["formats"]
    opted_in = params.replace(f"formats: [{', '.join(listed)}]", f"formats: [{', '.join(listed)}, tflite]")
    assert opted_in != params
    (tmp_path / "params.yaml").write_text(opted_in)
    assert "-r requirements/tflite/requirements.txt" in plan()
