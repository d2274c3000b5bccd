"""Every format of the registry, written by export's own write_bundle from a tiny network (with fastai's
pooling head, which ExecuTorch cannot lower as it is) and run by its own runner: the files, the card, and
the answers against eager. Fast: a 32-px network of a few hundred weights."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fastai.layers import AdaptiveConcatPool2d
from pydantic import ValidationError

from paddy_edge import formats, paths
from paddy_edge.config import Params, deep_merge, read_yaml
from paddy_edge.data.labels import PADDY_LABELS
from paddy_edge.errors import UserError
from paddy_edge.formats.qat import QatSpec, fine_tune
from paddy_edge.model import IMAGENET_MEAN, IMAGENET_STD, ModelSpec
from paddy_edge.runtime import outputs
from paddy_edge.stages.export import model_metadata, write_bundle

from ..helpers import ROOT

SIZE = 32
INT8 = [name for name, fmt in formats.REGISTRY.items() if fmt.twin]
# An opt-in format whose converter is not set up here (tflite: make tflite-setup, which .ci/run runs) is
# left out of the bundle, and its tests say why.
UNBUILDABLE = {
    name: problem for name in formats.EXPORTED_FORMATS if (problem := formats.REGISTRY[name].writer_problem())
}
BUILDABLE = tuple(name for name in formats.EXPORTED_FORMATS if name not in UNBUILDABLE)


def tiny_fastai_network() -> torch.nn.Module:
    """A body and the head vision_learner puts on a timm model (concat max+avg pool, then linear)."""
    torch.manual_seed(3)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, kernel_size=3, stride=2),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, kernel_size=3, stride=2),
        torch.nn.ReLU(),
        AdaptiveConcatPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(32, len(PADDY_LABELS)),
    ).eval()


def photos(count: int, seed: int) -> np.ndarray:
    """Images as the app feeds them: pixels in [0, 1], normalized with the ImageNet mean/std."""
    pixels = np.random.default_rng(seed).random((count, 3, SIZE, SIZE), dtype=np.float32)
    mean = np.asarray(IMAGENET_MEAN, np.float32)[:, None, None]
    std = np.asarray(IMAGENET_STD, np.float32)[:, None, None]
    return ((pixels - mean) / std).astype(np.float32)


def bundle(out: Path, calibration: np.ndarray, run_id: str = "run-x") -> tuple[torch.nn.Module, dict]:
    network = tiny_fastai_network()
    model = ModelSpec("tiny-fastai-head", list(PADDY_LABELS), SIZE, IMAGENET_MEAN, IMAGENET_STD)
    metadata = {**model_metadata(model, "nearest", run_id, run_id), "placeholder": False}
    spec = formats.ExportSpec(model, metadata, 17, calibration)
    card = write_bundle(network, spec, out, name="tiny", names=BUILDABLE)
    return network, card


@pytest.fixture(scope="module")
def every_format(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module, dict]:
    out = tmp_path_factory.mktemp("every_format")
    network, card = bundle(out, photos(16, seed=0))
    return out, network, card


NEW_FORMAT = """
    Format("onnx_copy", paths.EXPORTED / "model.copy.onnx", _load_onnx, _write_onnx, source="onnx_int8"),
)"""
CHECK_PARAMS = """
import json, sys
from pathlib import Path
from paddy_edge.config import Params, deep_merge, read_yaml
base = read_yaml(Path(sys.argv[1]))
for formats in (base["export"]["formats"] + ["onnx_copy"], ["executorch", "onnx", "onnx_copy"]):
    overlay = {"export": {"formats": formats}, "gates": {"formats": {"onnx_copy": {"max_size_mb": 9}}}}
    try:
        print(json.dumps(Params.model_validate(deep_merge(base, overlay)).export.formats))
    except Exception as exc:
        print(json.dumps(str(exc).splitlines()[:3]))
"""


def test_a_new_format_is_one_entry_in_its_family_module(tmp_path: Path) -> None:
    """Params accepts it, with its thresholds and its source, from that entry alone; export's deps in
    dvc.yaml name the formats folder, so the new entry reruns export with no edit there either."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src/paddy_edge", src / "paddy_edge", ignore=shutil.ignore_patterns("__pycache__"))
    family = src / "paddy_edge/formats/onnx_formats.py"
    text = family.read_text()
    family.write_text(text[: text.rindex(")")].rstrip() + NEW_FORMAT + "\n")
    result = subprocess.run(
        [sys.executable, "-c", CHECK_PARAMS, str(ROOT / "params.yaml")],
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    accepted, refused = (json.loads(line) for line in result.stdout.splitlines())
    assert accepted[-1] == "onnx_copy"
    assert "onnx_copy is converted from onnx_int8: list onnx_int8 too" in " ".join(refused)
    assert "onnx_copy" not in formats.REGISTRY  # this checkout's registry is untouched
    export_deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["export"]["deps"]
    assert "src/paddy_edge/formats" in export_deps


def test_each_format_writes_its_files_and_the_card_lists_them(every_format) -> None:
    out, _, card = every_format
    assert list(card["formats"]) == list(BUILDABLE)
    for name, built in card["formats"].items():
        files = [f.name for f in formats.REGISTRY[name].files]
        assert built["files"] == files and all((out / f).is_file() for f in files), name
        assert built["bytes"] == sum((out / f).stat().st_size for f in files)
        for file in files:
            assert card["files"][file]["sha256"] == outputs.sha256(out / file)
    assert card["onnx_nodes"]["slimmed"] <= card["onnx_nodes"]["exported"]
    assert card["calibration_photos"] == 16
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no scratch file left


@pytest.mark.parametrize("name", formats.EXPORTED_FORMATS)
def test_each_runner_answers_as_eager_does(every_format, name: str) -> None:
    if name in UNBUILDABLE:
        pytest.skip(f"{name} {UNBUILDABLE[name]}")
    out, network, _ = every_format
    batch = photos(5, seed=1)
    with torch.no_grad():
        eager = network(torch.from_numpy(batch)).numpy()
    logits = formats.runner(name, threads=1, file=out / formats.REGISTRY[name].file.name)(batch)
    assert logits.shape == eager.shape and np.isfinite(logits).all()
    # fp32 formats compute the same function; int8 ones approximate it within a few quantization steps
    spread = float(eager.max() - eager.min())
    tolerance = 0.15 * spread if name in INT8 else 1e-4 * max(spread, 1.0)
    assert np.abs(logits - eager).max() <= tolerance, (name, np.abs(logits - eager).max(), spread)


RUN_ID_FIELDS = ("mlflow_run_id", "train_run_id")


def _export_in_a_process_of_its_own(out: Path, run_id: str) -> dict[str, bytes]:
    """Every format of the tiny network, written as the export stage writes them, in a new process: what
    one process did before (TorchScript's name mangling counts per process) cannot leak into the files."""
    code = (
        "import sys; from pathlib import Path; from tests.model.test_formats import bundle, photos; "
        "bundle(Path(sys.argv[1]), photos(16, seed=0), run_id=sys.argv[2])"
    )
    out.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", code, str(out), run_id], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {file.name: file.read_bytes() for file in sorted(out.iterdir())}


def _ptl_records(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


@pytest.mark.slow  # three exports of every format, each in its own process
def test_an_export_is_byte_identical_but_for_the_run_ids(tmp_path: Path) -> None:
    """The same weights and params give the same bytes in every format, the card included. What differs
    by design is the MLflow run ids, in the card and in model.ptl's metadata, and so model.ptl's sha256
    and its serialization id (torch's hash of the archive's records, not a random number)."""
    first = _export_in_a_process_of_its_own(tmp_path / "first", "run-x")
    assert _export_in_a_process_of_its_own(tmp_path / "again", "run-x") == first

    other = _export_in_a_process_of_its_own(tmp_path / "other", "run-y")
    differ = sorted(name for name in first if first[name] != other[name])
    assert differ == sorted([paths.MODEL_CARD.name, paths.LITE_MODEL.name])
    card, other_card = (json.loads(files[paths.MODEL_CARD.name]) for files in (first, other))
    for field in RUN_ID_FIELDS:
        assert (card.pop(field), other_card.pop(field)) == ("run-x", "run-y")
    ptl = paths.LITE_MODEL.name
    assert card["files"].pop(ptl)["bytes"] == other_card["files"].pop(ptl)["bytes"]
    assert card == other_card
    records, other_records = _ptl_records(first[ptl]), _ptl_records(other[ptl])
    differ = sorted(name for name in records if records[name] != other_records[name])
    assert differ == [".data/serialization_id", f"extra/{paths.LITE_METADATA}"]
    metadata, other_metadata = (
        json.loads(r[f"extra/{paths.LITE_METADATA}"]) for r in (records, other_records)
    )
    assert {key for key in metadata if metadata[key] != other_metadata[key]} == set(RUN_ID_FIELDS)


@pytest.mark.slow  # trains, then lowers the quantized graph: about 25 s
def test_quantization_aware_training_fine_tunes_executorch_int8_before_converting_it(tmp_path: Path) -> None:
    """export.qat_epochs > 0: the fake-quantized network learns from labelled batches (here its own
    answers, so the loss must fall) and the .pte it becomes differs from post-training quantization's."""
    network = tiny_fastai_network()
    train = photos(32, seed=4)
    with torch.no_grad():
        targets = network(torch.from_numpy(train)).argmax(1).numpy()

    def batches(epoch: int):
        order = np.random.default_rng(epoch).permutation(len(train))
        for start in range(0, len(order), 8):
            yield train[order[start : start + 8]], targets[order[start : start + 8]]

    model = ModelSpec("tiny-fastai-head", list(PADDY_LABELS), SIZE, IMAGENET_MEAN, IMAGENET_STD)
    calibration = photos(16, seed=0)
    ptq, qat = tmp_path / "ptq", tmp_path / "qat"
    written = {}
    for out, spec_qat in ((ptq, None), (qat, QatSpec(epochs=3, lr=1e-3, batches=batches))):
        out.mkdir()
        spec = formats.ExportSpec(model, {}, 17, calibration, spec_qat)
        written[out] = formats.REGISTRY["executorch_int8"].write(
            network, spec, out / paths.EXECUTORCH_INT8_MODEL.name
        )

    facts = written[qat]["qat"]
    assert "qat" not in written[ptq]
    assert facts["epochs"] == 3 and facts["photos_seen"] == 3 * 32 and len(facts["loss"]) == 3
    assert facts["loss"][-1] < facts["loss"][0], facts["loss"]
    files = [out / paths.EXECUTORCH_INT8_MODEL.name for out in (ptq, qat)]
    assert files[0].read_bytes() != files[1].read_bytes()
    batch = photos(5, seed=1)
    with torch.no_grad():
        eager = network(torch.from_numpy(batch)).numpy()
    logits = formats.runner("executorch_int8", threads=1, file=files[1])(batch)
    assert logits.shape == eager.shape and np.isfinite(logits).all()
    assert (logits.argmax(1) == eager.argmax(1)).mean() >= 0.6  # fine-tuned towards the same answers


def test_quantization_aware_training_without_a_readable_photo_says_so() -> None:
    """Every training photo unreadable (training_batches skips each one): one message, no traceback."""
    network = tiny_fastai_network()
    nothing = QatSpec(1, 1e-3, lambda epoch: [])
    with pytest.raises(UserError, match="no readable training photo"):
        fine_tune(network, _qat_quantizer(), nothing, SIZE)


def _qat_quantizer():
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_qat=True))


@pytest.mark.slow  # trains
def test_quantization_aware_training_keeps_the_trained_batchnorm_statistics() -> None:
    """A short fine-tune on unaugmented photos must not re-estimate BatchNorm: in train mode the smoke
    model's agreement with eager fell from 0.95 to 0.84. The statistics leave QAT as training left them."""
    network = tiny_fastai_network()
    network[1].running_mean.fill_(0.5)  # trained statistics, unlike anything these photos give
    network[1].running_var.fill_(2.0)
    train = photos(32, seed=4)
    batches = QatSpec(
        2, 1e-3, lambda epoch: [(train[i : i + 8], np.zeros(8, np.int64)) for i in range(0, 32, 8)]
    )
    prepared, _ = fine_tune(network, _qat_quantizer(), batches, SIZE)
    means = [b for name, b in prepared.named_buffers() if name.endswith("running_mean")]
    variances = [b for name, b in prepared.named_buffers() if name.endswith("running_var")]
    assert means and variances
    assert all(torch.equal(b, torch.full((8,), 0.5)) for b in means)
    assert all(torch.equal(b, torch.full((8,), 2.0)) for b in variances)


def test_executorch_folds_the_heads_batchnorms_into_the_linears_after_them() -> None:
    """fastai's head (BatchNorm1d, Dropout, Linear, twice): folded, the graph has no BatchNorm left for
    convert_pt2e to fold by exporting pattern graphs, and the answers are the same to rounding."""
    from paddy_edge.formats.exportable import exportable

    torch.manual_seed(5)
    network = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, kernel_size=3, stride=2),
        torch.nn.ReLU(),
        AdaptiveConcatPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Sequential(
            torch.nn.BatchNorm1d(16),
            torch.nn.Dropout(0.25),
            torch.nn.Linear(16, 12, bias=False),
            torch.nn.ReLU(),
            torch.nn.BatchNorm1d(12),
            torch.nn.Dropout(0.5),
            torch.nn.Linear(12, len(PADDY_LABELS), bias=False),
        ),
    )
    for norm in network.modules():
        if isinstance(norm, torch.nn.BatchNorm1d):  # trained statistics, not the identity
            norm.running_mean.uniform_(-1, 1)
            norm.running_var.uniform_(0.5, 2)
            norm.weight.data.uniform_(0.5, 1.5)
            norm.bias.data.uniform_(-0.5, 0.5)
    network.eval()
    batch = torch.from_numpy(photos(4, seed=8))

    folded = exportable(network)
    kept = exportable(network, fold_batchnorms=False)

    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in kept.modules()) == 2
    with torch.no_grad():
        torch.testing.assert_close(folded(batch), network(batch), atol=1e-5, rtol=1e-5)
        assert torch.equal(kept(batch), network(batch))
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in network.modules()) == 2  # a copy was folded


@pytest.mark.parametrize("section", ["export", "gates"])
def test_a_misspelt_format_is_named_with_the_one_meant(section: str) -> None:
    base = read_yaml(ROOT / "params.yaml")
    overlay = (
        {"export": {"formats": [*base["export"]["formats"], "onnx_int9"]}}
        if section == "export"
        else {"gates": {"formats": {"onnx_int9": {"max_size_mb": 3}}}}
    )
    with pytest.raises(
        ValidationError, match="'onnx_int9' is no format export builds \\(did you mean 'onnx_int8'"
    ):
        Params.model_validate(deep_merge(base, overlay))


def test_the_phone_runs_the_executorch_program_that_paths_names() -> None:
    """The rooms without the registry (app-assets, the release, the served model) name the phone's file
    through paths.PHONE_MODEL; the registry's phone format is the ExecuTorch program, its twin the int8."""
    assert formats.PHONE_FORMAT == "executorch" and formats.PHONE_INT8_FORMAT == "executorch_int8"
    assert formats.REGISTRY[formats.PHONE_FORMAT].file == paths.PHONE_MODEL
    assert [name for name, fmt in formats.REGISTRY.items() if fmt.phone] == ["executorch"]
    assert formats.phone_format(int8=True) == "executorch_int8"


def test_bench_times_the_phones_program_right_after_eager() -> None:
    """The rotation's pairs are eager and the program the card puts on the phone (export.phone_int8 may
    make it the int8 one); the other formats follow in the registry's order."""
    built = {fmt: {} for fmt in ("lite", "onnx", "executorch", "executorch_int8")}
    card = {"formats": built, "phone": {"format": "executorch"}}
    assert formats.built_formats(card) == ["eager", "executorch", "lite", "onnx", "executorch_int8"]
    int8 = card | {"phone": {"format": "executorch_int8"}}
    assert formats.phone_of(int8) == "executorch_int8"
    assert formats.built_formats(int8) == ["eager", "executorch_int8", "lite", "onnx", "executorch"]
    assert formats.phone_of({"phone": {"format": "lite"}}) == "executorch"  # the app runs no other
