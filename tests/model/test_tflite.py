"""The opt-in TFLite formats: converted by litert-torch in .venv-tflite (make tflite-setup; .ci/run builds
it), offline, run here in ai-edge-litert 1.4.0 (tflite_flutter's LiteRT), gated like every format. Tests
that need the converter skip, saying so, where the venv is not built."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from paddy_edge import formats, paths
from paddy_edge.app import tflite_check
from paddy_edge.errors import UserError
from paddy_edge.formats import tflite_formats
from paddy_edge.formats.exportable import exportable
from paddy_edge.model import load_trained
from paddy_edge.runtime import outputs
from paddy_edge.stages.export import check_installed

from ..helpers.params import set_params
from ..helpers.pipeline import Pipeline
from .test_formats import SIZE, photos, tiny_fastai_network

VENV = tflite_formats.converter_venv()
needs_converter = pytest.mark.skipif(VENV is None, reason=f"tflite {tflite_formats.converter_problem()}")


def _network_namespace_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def _program(tmp_path: Path, network: torch.nn.Module) -> Path:
    program = tmp_path / "model.pt2"
    with torch.no_grad():
        exported = torch.export.export(exportable(network), (torch.rand(1, 3, SIZE, SIZE),))
    torch.export.save(exported, program)
    return program


@needs_converter
@pytest.mark.skipif(not _network_namespace_works(), reason="needs `unshare -n` (a network namespace)")
def test_the_converter_needs_no_network(tmp_path: Path) -> None:
    """Both steps in a network namespace with nothing but a loopback that is down: no download hides in
    litert-torch or ai-edge-quantizer. The files run here and answer as the network does."""
    network = tiny_fastai_network()
    program = _program(tmp_path, network)
    python, script = str(VENV / "bin/python"), str(tflite_formats.CONVERTER)
    offline = ["unshare", "-n", "--", python]
    cut_off = subprocess.run(
        [*offline, "-c", "import socket; socket.create_connection(('1.1.1.1', 443), timeout=5)"],
        capture_output=True,
        text=True,
    )
    assert "Network is unreachable" in cut_off.stderr  # the namespace really has no network
    fp32, int8 = tmp_path / "model.tflite", tmp_path / "model.int8.tflite"
    for action, source, target in (("convert", program, fp32), ("quantize", fp32, int8)):
        done = subprocess.run(
            [*offline, script, action, str(source), str(target)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
        facts = json.loads(done.stdout.splitlines()[-1])
        assert facts and all(isinstance(value, str) for value in facts.values())
        assert target.stat().st_mode & 0o777 == 0o644
    batch = photos(6, seed=2)
    with torch.no_grad():
        eager = network(torch.from_numpy(batch)).numpy()
    spread = float(eager.max() - eager.min())
    assert np.abs(formats.runner("tflite", 1, fp32)(batch) - eager).max() <= 1e-4 * max(spread, 1.0)
    quantized = formats.runner("tflite_int8", 1, int8)(batch)
    assert np.abs(quantized - eager).max() <= 0.15 * spread
    assert int8.stat().st_size < fp32.stat().st_size


@needs_converter
def test_a_program_the_converter_cannot_read_is_one_message_naming_it(tmp_path: Path) -> None:
    program = tmp_path / "model.pt2"
    program.write_bytes(b"not a torch.export archive")
    target = tmp_path / "model.tflite"
    with pytest.raises(UserError) as caught:
        tflite_formats._convert("convert", program, target)
    message = str(caught.value)
    assert "could not convert model.pt2 into model.tflite" in message and "make tflite-setup" in message
    assert "\n" not in message and not target.exists()


def test_without_the_converters_venv_export_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked before export writes anything: the formats it lists, and what each needs."""
    monkeypatch.setenv(tflite_formats.VENV_VARIABLE, str(tmp_path / "no-venv"))
    check_installed(["executorch", "onnx"])
    with pytest.raises(UserError) as caught:
        check_installed(["executorch", "onnx", "tflite"])
    message = str(caught.value)
    assert message.startswith("export.formats lists tflite, which is converted by litert-torch")
    assert str(tmp_path / "no-venv") in message and "make tflite-setup" in message
    assert "drop tflite from export.formats" in message
    (tmp_path / "no-venv").mkdir()  # a venv that `make tflite-setup` did not finish does not count
    with pytest.raises(UserError):
        check_installed(["tflite"])


def test_a_damaged_tflite_file_is_refused_before_the_interpreter_opens_it(tmp_path: Path) -> None:
    """LiteRT maps the file unverified: a truncated one would end the process (SIGSEGV) in evaluate."""
    whole = tmp_path / "whole.tflite"
    if VENV is None:
        pytest.skip(f"tflite {tflite_formats.converter_problem()}")
    tflite_formats._convert("convert", _program(tmp_path, tiny_fastai_network()), whole)
    data = whole.read_bytes()
    for cut in (7, 64, len(data) // 2, len(data) - 16):
        damaged = tmp_path / f"cut{cut}.tflite"
        damaged.write_bytes(data[:cut])
        with pytest.raises(UserError) as caught:
            formats.runner("tflite", 1, damaged)
        assert f"{damaged} is " in str(caught.value) and "dvc repro export --force" in str(caught.value)
    formats.runner("tflite", 1, whole)  # the whole file loads


def _gate(clone: Pipeline) -> tuple[int, dict]:
    for stage in ("evaluate", "bench"):
        result = clone.stage(stage)
        assert result.returncode == 0, result.stdout + result.stderr
    gate = clone.stage("gate")
    return gate.returncode, json.loads((clone.workspace / paths.GATE_REPORT).read_text())


@needs_converter
def test_the_pipeline_builds_evaluates_benches_and_gates_both_tflite_formats(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """export.formats with tflite and tflite_int8: both in the card, the evaluation, the formats table
    and the gate, and passing. Then an int8 file quantized from perturbed weights fails its own gate."""
    clone = pipeline.clone(tmp_path / "tflite")
    listed = yaml.safe_load((clone.workspace / paths.PARAMS).read_text())["export"]["formats"]
    set_params(clone.workspace, export={"formats": [*listed, "tflite", "tflite_int8"]})
    export = clone.stage("export")
    assert export.returncode == 0, export.stdout + export.stderr
    card = json.loads((clone.workspace / paths.MODEL_CARD).read_text())
    assert {"tflite", "tflite_int8"} <= set(card["formats"]) and card["litert_torch_version"]
    returncode, report = _gate(clone)
    assert returncode == 0, report
    gated = {check["format"] for check in report["checks"]}
    assert {"tflite", "tflite_int8"} <= gated
    accuracy = json.loads((clone.workspace / paths.EVAL_METRICS).read_text())["accuracy"]
    assert abs(accuracy["tflite"] - accuracy["eager"]) <= 0.02
    with (clone.workspace / paths.FORMATS_CSV).open() as handle:
        assert {"tflite", "tflite_int8"} <= {row["format"] for row in csv.DictReader(handle)}
    device = _tflite_check(clone)  # make device-check's TFLite half: tflite_flutter's LiteRT
    assert device.returncode == 0, device.stdout + device.stderr
    assert "PASS: model.tflite gives the pipeline's answers in tflite_flutter's LiteRT" in device.stdout
    checked = json.loads((clone.workspace / tflite_check.REPORT).read_text())
    assert checked["runtime"] == f"ai-edge-litert {tflite_check.APP_RUNTIME}"
    assert checked["tflite"]["agreement_with_pipeline"] == 1.0 and "tflite_int8" in checked

    # A broken int8 file: quantized from the trained network with noise of their own size added to its
    # convolution and linear weights (BatchNorm statistics untouched: a negative variance would be NaN).
    torch.manual_seed(0)
    noisy = {
        name: weight + torch.randn_like(weight) * weight.std() if weight.dim() >= 2 else weight
        for name, weight in load_file(str(clone.workspace / paths.WEIGHTS)).items()
    }
    save_file(noisy, str(tmp_path / "noisy.safetensors"))
    network, spec = load_trained(tmp_path / "noisy.safetensors", clone.workspace / paths.MODEL_SPEC)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    export_spec = formats.ExportSpec(spec, {}, 17)
    for name in ("tflite", "tflite_int8"):
        formats.REGISTRY[name].write(network, export_spec, scratch / formats.REGISTRY[name].file.name)
    broken = clone.workspace / paths.EXPORTED / "model.int8.tflite"
    shutil.copy(scratch / broken.name, broken)
    card["files"][broken.name] = {"bytes": broken.stat().st_size, "sha256": outputs.sha256(broken)}
    card["formats"]["tflite_int8"]["bytes"] = broken.stat().st_size  # as if export had written it
    (clone.workspace / paths.MODEL_CARD).write_text(json.dumps(card, indent=2) + "\n")
    returncode, report = _gate(clone)
    assert returncode == 1
    failed = {check["format"] for check in report["checks"] if not check["passed"]}
    assert failed == {"tflite_int8"}, report["checks"]

    fp32 = clone.workspace / paths.EXPORTED / "model.tflite"
    fp32.write_bytes(fp32.read_bytes()[: fp32.stat().st_size // 2])
    device = _tflite_check(clone)
    assert device.returncode == 2 and f"{fp32} is truncated or damaged" in device.stderr


def _tflite_check(clone: Pipeline) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "paddy_edge.app.tflite_check", "--root", str(clone.workspace)]
    return subprocess.run(command, capture_output=True, text=True)
