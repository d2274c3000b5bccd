"""Real signals and a real full disk against the real stages (slow: they run in copies of the finished
smoke workspace). After Ctrl-C nothing is left behind; after kill -9 the rerun removes what was left and
finishes; an orphaned stage is not raced; a full disk is one message, not an aborted process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from paddy_edge import paths
from paddy_edge.runtime import outputs
from paddy_edge.stages import STAGES

from ..helpers.cli import start_cli
from ..helpers.params import set_params
from ..helpers.pipeline import Pipeline
from ..helpers.signals import sigint_default
from .conftest import needs_tmpfs, temps_under

pytestmark = pytest.mark.slow

# Stages whose temporary output exists for most of their run: a kill -9 there must leave debris (and the
# rerun remove it). evaluate and gate build their outputs in memory and write them at the very end.
LONG_LIVED_TEMPS = {"fetch", "prepare", "train", "export", "bench"}


def _start(clone: Pipeline, stage: str) -> subprocess.Popen:
    return start_cli(stage, cwd=clone.workspace, env=clone.env, preexec_fn=sigint_default)


def _wait_for_temps(process: subprocess.Popen, workspace: Path, stage: str) -> None:
    """Until the stage has a temporary output (or, for the stages that write at the end, is under way)."""
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if temps_under(workspace) or (stage not in LONG_LIVED_TEMPS and _lock_held(workspace, stage)):
            return
        time.sleep(0.02)
    pytest.fail(f"{stage} ended or stalled before it could be interrupted: {process.communicate()}")


def _lock_held(workspace: Path, stage: str) -> bool:
    lock = outputs.lock_file(stage, workspace)
    return lock.is_file() and lock.read_text().startswith("pid")


def _runs(clone: Pipeline) -> list:
    client = mlflow.MlflowClient(clone.tracking_uri)
    experiment = client.get_experiment_by_name("paddy-edge-smoke")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


@pytest.mark.parametrize("stage", [s.name for s in STAGES])
def test_ctrl_c_in_each_stage_leaves_nothing_behind(pipeline: Pipeline, tmp_path: Path, stage: str) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    process = _start(clone, stage)
    _wait_for_temps(process, clone.workspace, stage)

    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)

    assert process.returncode == 130, stdout + stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert temps_under(clone.workspace) == []
    assert not outputs.lock_file(stage, clone.workspace).exists()
    assert all(run.info.status != "RUNNING" for run in _runs(clone))


@pytest.mark.parametrize("stage", [s.name for s in STAGES])
def test_after_kill_9_in_each_stage_a_rerun_cleans_up_and_finishes(
    pipeline: Pipeline, tmp_path: Path, stage: str
) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    process = _start(clone, stage)
    _wait_for_temps(process, clone.workspace, stage)

    process.kill()
    process.communicate()
    if stage in LONG_LIVED_TEMPS:
        assert temps_under(clone.workspace), "the kill left nothing to clean: it came too late"
    rerun = clone.stage(stage)

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    if stage in LONG_LIVED_TEMPS:
        assert f"of an interrupted {stage} run" in rerun.stdout
    assert temps_under(clone.workspace) == []
    for output in paths.OUTPUTS[stage]:
        assert (clone.workspace / output).exists(), output


def test_killing_dvc_does_not_let_a_second_repro_race_the_orphaned_stage(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    clone = pipeline.clone(tmp_path / "ws", dvc_cache=True)
    dvc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "--force", "--single-item", "train"],
        cwd=clone.workspace,
        env=clone.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not _lock_held(clone.workspace, "train") and time.monotonic() < deadline:
        time.sleep(0.05)
    orphan = int(outputs.lock_file("train", clone.workspace).read_text().split()[1])
    dvc.kill()  # as a closed terminal or a cancelled CI job would: the stage goes on alone
    dvc.wait()
    try:
        second = clone.dvc("repro", "--force", "--single-item", "train")
        assert second.returncode != 0
        assert f"the train stage is already running in {clone.workspace} (pid {orphan})" in " ".join(
            (second.stdout + second.stderr).split()
        )
    finally:
        os.kill(orphan, signal.SIGKILL)


def test_a_batch_larger_than_the_training_set_fails_instead_of_training_nothing(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    set_params(clone.workspace, train={"batch_size": 5000})
    weights = outputs.sha256(clone.workspace / paths.WEIGHTS)

    result = clone.stage("train")

    assert result.returncode == 2
    assert "train.batch_size=5000 is more than the" in " ".join(result.stderr.split())
    assert outputs.sha256(clone.workspace / paths.WEIGHTS) == weights
    assert [run.info.status for run in _runs(clone)] == ["FAILED"]


@needs_tmpfs
def test_export_on_a_full_disk_says_so_before_writing(pipeline: Pipeline, tmp_path: Path) -> None:
    clone = pipeline.clone(tmp_path / "ws")
    trained = tmp_path / "trained"
    shutil.copytree(clone.workspace / paths.TRAINED, trained)
    room = sum(f.stat().st_size for f in trained.iterdir()) // 1024 + 2048  # KB: the model, and 2 MB
    script = (
        f"mount -t tmpfs -o size={room}k tmpfs models && cp -r {trained} models/trained && "
        f"{sys.executable} -m paddy_edge export; echo exit=$?; ls -A models"
    )

    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=clone.workspace,
        env=clone.env,
        capture_output=True,
        text=True,
    )

    assert "exit=2" in result.stdout, result.stdout + result.stderr
    assert "export needs about" in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert result.stdout.split("exit=2")[1].split() == ["trained"]  # no half-written export folder
    assert all(run.info.status != "RUNNING" for run in _runs(clone))


WRITE_TO_A_FULL_DISK = """
import sys, torch
from pathlib import Path
from paddy_edge import formats
from paddy_edge.model import IMAGENET_MEAN, IMAGENET_STD, ModelSpec
from paddy_edge.stages.export import model_metadata, write_bundle
network = torch.nn.Sequential(
    torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 1000), torch.nn.Linear(1000, 100)
)
spec = ModelSpec("big-linear", [str(i) for i in range(100)], 32, IMAGENET_MEAN, IMAGENET_STD)
metadata = {**model_metadata(spec, "nearest", None), "placeholder": False}
out = Path(sys.argv[1])
out.mkdir()
try:
    write_bundle(network, formats.ExportSpec(spec, metadata, 17), out, name="x", names=(sys.argv[2],))
except OSError as exc:
    print(f"OSError errno={exc.errno}")
"""


@needs_tmpfs
@pytest.mark.parametrize("fmt", ["lite", "onnx"])
def test_a_format_writer_on_a_full_disk_raises_instead_of_aborting(tmp_path: Path, fmt: str) -> None:
    """torch's own .ptl writer calls std::terminate when the disk fills: the process died with a C++
    stack, no Python cleanup ran, and the temporary folder kept the disk full."""
    (tmp_path / "script.py").write_text(WRITE_TO_A_FULL_DISK)
    script = (
        f"mount -t tmpfs -o size=64k tmpfs {tmp_path / 'disk'} && "
        f"{sys.executable} {tmp_path / 'script.py'} {tmp_path / 'disk/out'} {fmt}"
    )
    (tmp_path / "disk").mkdir()

    result = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "OSError errno=28" in result.stdout
    assert "terminate called" not in result.stderr
