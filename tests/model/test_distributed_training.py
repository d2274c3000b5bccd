"""train.processes > 1: the train stage trains in that many processes (DDP, gloo on this CPU), and the
outputs, the MLflow run and the summary come once, from rank 0, through the same atomic writes; a process
that fails ends the stage with one message and no output. Real runs of `python -m paddy_edge train` on the
32-px settings of test_stage_functions' one-epoch test, with a SQLite MLflow store in the test's folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from safetensors.numpy import load_file

from paddy_edge import paths
from paddy_edge.config import PrepareParams, SampleParams, deep_merge, read_yaml
from paddy_edge.data.archive import extract_zip
from paddy_edge.data.sample import write_sample_zip
from paddy_edge.errors import UserError
from paddy_edge.runtime import outputs
from paddy_edge.stages import train
from paddy_edge.stages.prepare import prepare
from paddy_edge.training import launch

from ..helpers import ROOT
from ..helpers.cli import cli, start_cli
from ..helpers.pipeline import params_with

TINY = {"pretrained": False, "epochs": 1, "image_size": 32, "batch_size": 8, "num_workers": 0}
EXPERIMENT = "paddy-edge"  # params.yaml's


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/prepared and reports/data_report.json of 60 tiny sample photos (48 train, 12 valid)."""
    root = tmp_path_factory.mktemp("prepared")
    write_sample_zip(
        SampleParams(images_per_class=6, test_images=3, width=48, height=64, seed=7), root / "s.zip"
    )
    extract_zip(root / "s.zip", root / "raw")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # prepare writes reports/data_report.json, as dvc.yaml runs it
        prepare(
            PrepareParams(valid_pct=0.2, seed=1, max_side=64, min_side=8, max_skipped_pct=0, workers=1),
            root / "raw",
            root / paths.PREPARED,
        )
    return root


def workspace(prepared: Path, target: Path, processes: int, **train: object) -> Path:
    shutil.copytree(prepared / "data", target / "data")
    shutil.copytree(prepared / "reports", target / "reports")
    overlay = {"train": {**TINY, "processes": processes, **train}}
    raw = deep_merge(read_yaml(ROOT / "params.yaml"), overlay)
    (target / "params.yaml").write_text(yaml.safe_dump(raw))
    return target


def stage_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_STAGE", "OMP_NUM_THREADS")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    return env


def train_stage(folder: Path) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = cli("train", cwd=folder, env=stage_env(folder), timeout=600)
    return result, time.monotonic() - started


def start_train(folder: Path, output: int) -> subprocess.Popen:
    """The train stage in the background, its output piped (text) or dropped."""
    return start_cli("train", cwd=folder, env=stage_env(folder), stdout=output, stderr=output)


def runs(folder: Path) -> list:
    client = mlflow.MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([experiment.experiment_id]) if experiment else []


def written(folder: Path) -> list[str]:
    """Every file and folder the stage left under models/ and reports/ (temporary ones included)."""
    return sorted(
        str(p.relative_to(folder)) for top in ("models", "reports") for p in (folder / top).rglob("*")
    )


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_two_processes_train_once_and_write_what_one_process_writes(prepared: Path, tmp_path: Path) -> None:
    two, t_two = train_stage(workspace(prepared, tmp_path / "two", processes=2))
    one, t_one = train_stage(workspace(prepared, tmp_path / "one", processes=1))
    print(f"\none epoch, 48 photos at 32 px: 1 process {t_one:.1f} s, 2 processes {t_two:.1f} s (noisy)")
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    assert_no_traceback(two)
    assert "Training in 2 processes on the CPU (gloo)" in two.stdout
    # Rank 0 alone prints, logs and writes: each once.
    assert two.stdout.count("Trained edgenext_xx_small") == 1 and two.stdout.count("epoch 0:") == 1
    assert written(tmp_path / "two") == written(tmp_path / "one")
    assert sorted(p.name for p in (tmp_path / "two" / paths.TRAINED).iterdir()) == [
        "mlflow_run.json",
        "model_spec.json",
        "weights.safetensors",
    ]
    metrics = {}
    for name in ("one", "two"):
        folder = tmp_path / name
        found = runs(folder)
        assert [r.info.status for r in found] == ["FINISHED"], "one MLflow run"
        run_id = found[0].info.run_id
        assert yaml.safe_load((folder / paths.RUN_INFO).read_text())["run_id"] == run_id
        client = mlflow.MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
        assert [m.step for m in client.get_metric_history(run_id, "valid_loss")] == [0], "logged once"
        metrics[name] = yaml.safe_load((folder / paths.TRAIN_METRICS).read_text())
        history = pd.read_csv(folder / paths.TRAIN_HISTORY)
        assert list(history.columns) == ["epoch", "train_loss", "valid_loss", "accuracy"]
        assert len(history) == 1 and np.isfinite(history[["train_loss", "valid_loss"]].to_numpy()).all()
        assert 0.0 <= metrics[name]["valid_accuracy"] <= 1.0 and np.isfinite(metrics[name]["valid_loss"])
    print(f"metrics: 1 process {metrics['one']}, 2 processes {metrics['two']}")
    assert metrics["one"].keys() == metrics["two"].keys()
    assert runs(tmp_path / "two")[0].data.params["train.processes"] == "2"
    weights = {name: load_file(tmp_path / name / paths.WEIGHTS) for name in ("one", "two")}
    assert {k: v.shape for k, v in weights["one"].items()} == {k: v.shape for k, v in weights["two"].items()}


@pytest.mark.slow
def test_a_process_that_hits_a_corrupt_photo_fails_the_stage_with_one_message(
    prepared: Path, tmp_path: Path
) -> None:
    """Validation is not shuffled: of 12 validation photos, process 1 of 2 reads the last 6, so only it
    meets the last one of the manifest."""
    folder = workspace(prepared, tmp_path / "corrupt", processes=2)
    manifest = pd.read_csv(folder / paths.MANIFEST)
    last_valid = manifest[manifest["split"] == "valid"]["image"].iloc[-1]
    (folder / paths.PREPARED / last_valid).write_bytes(b"not a photo")

    result, seconds = train_stage(folder)

    print(f"\nfailed in {seconds:.1f} s")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: training failed in process 1 of 2: UnidentifiedImageError: cannot identify image file "
        f"'{paths.PREPARED / last_valid}' (train.processes: 1 shows its traceback)"
    ]
    assert_no_traceback(result)
    assert "Trained" not in result.stdout
    assert written(folder) == ["reports/data_report.json"], "no output, no temporary folder"
    assert [r.info.status for r in runs(folder)] == ["FAILED"]


def _worker_pid(stage_pid: int, rank: int) -> int | None:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if parent == stage_pid and f"RANK={rank}".encode() in environ:
            return int(proc.name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the worker through /proc")
def test_a_killed_process_fails_the_stage_with_one_message_and_no_output(
    prepared: Path, tmp_path: Path
) -> None:
    folder = workspace(prepared, tmp_path / "killed", processes=2, epochs=3)
    stage = start_train(folder, subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        # Rank 0 is training once its temporary models/trained exists: kill rank 1 then.
        while not outputs.stale_temps(folder / paths.TRAINED) and time.monotonic() < deadline:
            assert stage.poll() is None, stage.communicate()
            time.sleep(0.2)
        victim = _worker_pid(stage.pid, rank=1)
        assert victim is not None, "rank 1 is running"
        os.kill(victim, signal.SIGKILL)
        out, err = stage.communicate(timeout=300)
    finally:
        if stage.poll() is None:
            stage.kill()
    assert stage.returncode == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: training process 1 of 2 was killed by SIGKILL (the kernel's out-of-memory killer sends "
        "SIGKILL): no output was written"
    ]
    assert "Traceback" not in out + err and "Trained" not in out
    assert written(folder) == ["reports/data_report.json"], "no output, no temporary folder"
    assert [r.info.status for r in runs(folder)] == ["FAILED"]


def test_processes_must_be_at_least_one_and_split_the_batch() -> None:
    with pytest.raises(UserError) as raised:
        params_with({"train": {"processes": 0}})
    assert "  train.processes: Input should be greater than 0" in str(raised.value)
    with pytest.raises(UserError) as raised:
        params_with({"train": {"processes": 3, "batch_size": 32}})
    assert "batch_size 32 does not split evenly over processes 3" in str(raised.value)
    assert params_with().train.processes == 1, "params.yaml: one process"
    assert params_with({"train": {"processes": 4}}).train.processes == 4


def test_more_processes_than_gpus_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(UserError, match=r"train\.processes is 4 but this machine has 2 GPU"):
        launch.launch(params_with({"train": {"processes": 4}}), train.run)


def test_the_workers_run_the_stage_function_they_are_given_by_name() -> None:
    """launch starts `python -m paddy_edge.training.worker paddy_edge.stages.train:run`: a function a new
    process can import by name, or a clear refusal before any process starts."""
    assert launch.entry_name(train.run) == "paddy_edge.stages.train:run"
    assert launch.entry_point(launch.entry_name(train.run)) is train.run

    def nested(params) -> None: ...

    for function in (nested, lambda params: None):
        with pytest.raises(ValueError, match="a module's top level"):
            launch.entry_name(function)


def _failure(exitcode: int, cause: str | None = None, message: str = "", timestamp: int = 0):
    data = {"message": message, launch.CAUSE_KEY: cause} if cause else {}
    name = signal.Signals(-exitcode).name if exitcode < 0 else "<N/A>"
    return SimpleNamespace(
        exitcode=exitcode, error_file_data=data, timestamp=timestamp, signal_name=lambda: name
    )


def test_the_message_names_the_cause_not_its_consequences() -> None:
    """The process that lost its peer may fail first, and the launcher stops (SIGTERM) the rest."""
    lost = _failure(1, "peer", "RuntimeError: Connection closed by peer", timestamp=1)
    cause = _failure(1, "user", "data/prepared/manifest.csv is missing", timestamp=2)
    stopped = _failure(launch.STOPPED)
    message = launch.describe_failure({0: lost, 1: cause, 2: stopped}, 3)
    assert message == "training failed in process 1 of 3: data/prepared/manifest.csv is missing"
    message = launch.describe_failure({0: lost, 2: _failure(-signal.SIGKILL, timestamp=5)}, 3)
    assert message.startswith("training process 2 of 3 was killed by SIGKILL")
    message = launch.describe_failure({0: lost, 1: stopped}, 2)
    assert (
        message == "training process 0 of 2 lost the other processes: RuntimeError: Connection closed by peer"
    )


def test_a_stop_that_lands_inside_a_garbage_collection_callback_still_stops_the_worker() -> None:
    """The launcher's SIGTERM raised inside `__del__` (SQLAlchemy's collection callbacks during MLflow
    logging, on a busy machine) was printed as "Exception ignored ... Traceback" and training went on."""
    script = textwrap.dedent(
        """
        import os, signal, time
        from paddy_edge.runtime import interrupts
        from paddy_edge.training import launch

        interrupts.install()
        launch.install_stop()

        class Collected:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(100_000):  # the handler runs here, inside __del__
                    pass

        try:
            Collected()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # training goes on
                pass
            print("trained on")
        except SystemExit as exc:
            print("stopped", exc.code)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    assert result.stdout.strip() == f"stopped {launch.STOPPED}", result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


def test_more_processes_than_cores_is_one_message_before_any_starts(prepared: Path, tmp_path: Path) -> None:
    """64 processes on 2 cores were accepted: they ran out of memory in 20 s, and the out-of-memory
    killer took the launcher and left 46 workers running."""
    cores = len(os.sched_getaffinity(0))
    folder = workspace(prepared, tmp_path / "many", processes=64, batch_size=64)
    result, _ = train_stage(folder)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        f"error: train.processes is 64 but this machine has no GPU and {cores} CPU core(s) for this "
        f"process: each training process needs a core of its own; set train.processes to at most {cores}"
    )
    assert "Training in" not in result.stdout and written(folder) == ["reports/data_report.json"]


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper (pid 1 of a container may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the workers through /proc")
@pytest.mark.parametrize("when", ["starting", "training"])
def test_workers_end_when_the_launcher_is_killed(prepared: Path, tmp_path: Path, when: str) -> None:
    """The out-of-memory killer takes the biggest process, the launcher. Killed while its workers were
    still starting, they waited for each other forever (seen: 46 of 64 left running); killed while they
    train, they must unwind and remove their temporary output."""
    folder = workspace(prepared, tmp_path / "orphans", processes=2, epochs=20)
    stage = start_train(folder, subprocess.DEVNULL)
    workers: list[int | None] = [None, None]
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert stage.poll() is None
            workers = [_worker_pid(stage.pid, rank) for rank in (0, 1)]
            if None not in workers and (when == "starting" or outputs.stale_temps(folder / paths.TRAINED)):
                break
            time.sleep(0.05)
        assert None not in workers, "both ranks are running"
        stage.kill()
        stage.wait()
        deadline = time.monotonic() + 120  # a bound for a hang, not a measured time
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        alive = [pid for pid in workers if _alive(pid)]
    finally:
        for pid in [p for p in workers if p and _alive(p)]:
            os.kill(pid, signal.SIGKILL)
    assert alive == [], "workers outlived their launcher"
    if when == "training":
        assert not outputs.stale_temps(folder / paths.TRAINED), (
            "rank 0 unwound and removed its temporary output"
        )
