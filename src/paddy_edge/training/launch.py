"""Launching the processes of a multi-process training (params `train.processes` > 1) and ending it
with one message.

The train stage that dvc started launches the processes with PyTorch's elastic launcher (what torchrun
runs, here in-process) and waits for them; each runs `worker()` on the stage function it was given
(worker.py): the train stage again.
When a process fails, the launcher stops the others (SIGTERM, taken here as a request to stop, so their
temporary outputs are removed) and the stage ends with one message: the process whose failure was the
cause (not the others' reactions to it) and why. The launcher starts each process in its own session, so
a Ctrl-C reaches the stage process alone, which passes it on. The processes inherit the stage's note of
the dvc repro that started it: an orphaned run commits nothing (orphans.py), whichever process writes.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from paddy_edge.config import Params
from paddy_edge.errors import UserError
from paddy_edge.runtime import interrupts, orphans
from paddy_edge.training.ddp import PARAMS_ENV, WORKER_ENV, device, is_main

WORKER_MODULE = "paddy_edge.training.worker"  # `python -m` it with the stage's entry point
STOPPED, INTERRUPTED, FAILED = 128 + signal.SIGTERM, 130, 1
# How long a stopped process may take to unwind (and end its MLflow run FAILED) before it is killed.
SHUTDOWN_S = 30
CAUSE_KEY = "paddy_edge_cause"  # in a worker's error file: see _cause
# Words of the errors a process raises when another one has gone (consequences, not causes).
_PEER_GONE = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "NCCL error")


def entry_point(name: str) -> Callable[[Params], None]:
    """The function `entry_name` named."""
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)


def entry_name(function: Callable[[Params], None]) -> str:
    """How a process started with `python -m` finds `function`: a module-level function, by name."""
    name = f"{function.__module__}:{function.__qualname__}"
    if "." in function.__qualname__ or function.__module__ == "__main__" or entry_point(name) is not function:
        raise ValueError(f"{name}: a worker's entry point must be a function at a module's top level")
    return name


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the processes started in the block (they inherit os.environ)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _own_signals() -> Iterator[None]:
    """The launcher installs its own handlers (SIGINT, SIGTERM, ...) and leaves them: put ours back."""
    names = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
    before = {sig: signal.getsignal(sig) for sig in names}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@contextmanager
def _quiet_launcher() -> Iterator[None]:
    """The launcher logs every worker's failure with a pointer to its docs: this module says it once."""
    elastic = logging.getLogger("torch.distributed.elastic")
    handler, propagate = logging.NullHandler(), elastic.propagate
    elastic.addHandler(handler)
    elastic.propagate = False
    try:
        yield
    finally:
        elastic.removeHandler(handler)
        elastic.propagate = propagate


def _cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check_devices(processes: int) -> str:
    """What the processes run on, or UserError when there are fewer GPUs than processes."""
    import torch

    if not torch.cuda.is_available():
        cores = _cores()
        if processes > cores:  # 64 on 2 cores ran out of memory in 20 s, and the OOM killer took the launcher
            raise UserError(
                f"train.processes is {processes} but this machine has no GPU and {cores} CPU core(s) for "
                f"this process: each training process needs a core of its own; set train.processes to at "
                f"most {cores}"
            )
        return "the CPU (gloo)"
    gpus = torch.cuda.device_count()
    if processes > gpus:
        raise UserError(
            f"train.processes is {processes} but this machine has {gpus} GPU(s): training runs one process "
            f"per GPU; set train.processes to at most {gpus}"
        )
    return f"{processes} GPUs (NCCL)"


def launch(params: Params, stage: Callable[[Params], None]) -> None:
    """Run `stage` (a module-level function: the train stage's `run`) in params.train.processes processes
    on this machine; UserError if one fails."""
    from torch.distributed.elastic.multiprocessing.api import DefaultLogsSpecs, SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    entry = entry_name(stage)
    processes = params.train.processes
    where = _check_devices(processes)
    print(f"Training in {processes} processes on {where}", flush=True)
    cores = _cores()
    env = {
        WORKER_ENV: "1",
        LAUNCHER_PID_ENV: str(os.getpid()),
        PARAMS_ENV: params.model_dump_json(),
        # Without it, every process would start a thread per core: N times too many for the cores.
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS") or str(max(1, cores // processes)),
    }
    env |= orphans.handoff()  # the workers' outputs are an orphan's too if dvc goes (orphans.py)
    with tempfile.TemporaryDirectory(prefix="paddy-edge-train-") as logs:  # the workers' error files
        config = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=processes,
            run_id=str(uuid.uuid4()),
            rdzv_backend="c10d",  # torchrun --standalone: a TCP store on a free local port
            rdzv_endpoint="localhost:0",
            max_restarts=0,
            logs_specs=DefaultLogsSpecs(log_dir=logs),
            shutdown_timeout=SHUTDOWN_S,
        )
        try:
            with _environment(env), _own_signals(), _quiet_launcher():
                elastic_launch(config, sys.executable)("-m", WORKER_MODULE, entry)
        except ChildFailedError as exc:
            raise UserError(describe_failure(exc.failures, processes)) from None
        except SignalException as exc:  # the launcher stopped the processes, then raised this
            if exc.sigval == signal.SIGINT:
                raise KeyboardInterrupt from None
            raise UserError(
                f"training was stopped by {exc.sigval.name}: the {processes} processes were ended and no "
                "output was written"
            ) from None


def _cause(exc: BaseException) -> tuple[str, str]:
    """(kind, message) of what a process raised: "user" (a UserError, its message says what to do),
    "peer" (a collective broke because another process went: a consequence) or "error"."""
    if isinstance(exc, UserError):
        return "user", str(exc)
    message = f"{type(exc).__name__}: {exc}".strip()
    import torch.distributed

    if isinstance(exc, torch.distributed.DistError) or any(word in message for word in _PEER_GONE):
        return "peer", message
    return "error", message


def _record(exc: BaseException) -> None:
    """Write the launcher's error file for this process (the format torch's ErrorHandler writes, whose
    `message` the launcher reads, and the kind of cause for describe_failure)."""
    kind, message = _cause(exc)
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:  # not started by the launcher: say it here
        print(f"error: {message}", file=sys.stderr)
        return
    payload = {"message": message, "timestamp": str(int(time.time())), CAUSE_KEY: kind}
    with open(path, "w") as handle:
        json.dump(payload, handle)


def describe_failure(failures: dict[int, Any], processes: int) -> str:
    """One message for the failure that came first in cause, not in time: an error a process raised
    itself, else a process killed by a signal (SIGKILL: the kernel's out-of-memory killer), before the
    errors of processes that lost a peer, and those before the processes the launcher stopped."""

    def order(item: tuple[int, Any]) -> tuple[int, int, int]:
        rank, failure = item
        cause = failure.error_file_data.get(CAUSE_KEY)
        if cause in ("user", "error"):
            kind = 0
        elif failure.exitcode < 0 and failure.exitcode != -signal.SIGTERM:
            kind = 1
        else:
            kind = 2 if cause == "peer" else 3
        return kind, failure.timestamp, rank

    rank, failure = min(failures.items(), key=order)
    kind = order((rank, failure))[0]
    who = f"process {rank} of {processes}"
    if kind == 0:
        message = failure.error_file_data["message"]
        if failure.error_file_data[CAUSE_KEY] == "error":
            message += " (train.processes: 1 shows its traceback)"
        return f"training failed in {who}: {message}"
    if kind == 1:
        signame = failure.signal_name()
        hint = " (the kernel's out-of-memory killer sends SIGKILL)" if signame == "SIGKILL" else ""
        return f"training {who} was killed by {signame}{hint}: no output was written"
    if kind == 2:
        return f"training {who} lost the other processes: {failure.error_file_data['message']}"
    return f"training {who} ended with exit code {failure.exitcode}: no output was written"


def _stop(signum: int, frame: object) -> None:
    """SIGTERM (the launcher stopping the others after a failure): unwind, removing temporary outputs."""
    signal.signal(signum, signal.SIG_IGN)
    raise SystemExit(STOPPED)


def _stop_again(args: sys.UnraisableHookArgs) -> None:
    """A stop raised inside a garbage-collection callback (SQLAlchemy's, as MLflow logs) is lost there:
    Python prints it as "Exception ignored ... Traceback" and trains on. Stop again in 10 ms, once this
    hook has returned (a signal sent from here would be handled, and lost, here)."""
    if args.exc_type is SystemExit and getattr(args.exc_value, "code", None) == STOPPED:
        signal.signal(signal.SIGALRM, _stop)
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        return
    interrupts.unraisable(args)


def install_stop() -> None:
    """SIGTERM unwinds a worker, also when it lands inside a garbage-collection callback."""
    signal.signal(signal.SIGTERM, _stop)
    sys.unraisablehook = _stop_again


PR_SET_PDEATHSIG = 1  # linux/prctl.h
LAUNCHER_PID_ENV = "PADDY_EDGE_TRAIN_LAUNCHER"


def die_with_the_launcher(signum: int) -> None:
    """Have the kernel send `signum` to this worker when the stage process that launched it dies (the
    out-of-memory killer takes the biggest process: the launcher), so that no worker lives on alone.
    SIGKILL until the processes have met (a worker waiting for its peers is deaf to signals, in C++),
    then SIGTERM: it unwinds, removing its temporary outputs, as on any stop."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    if str(os.getppid()) != os.environ.get(LAUNCHER_PID_ENV):  # it died before the call: no signal comes
        raise SystemExit(STOPPED)


def worker(stage: Callable[[Params], None]) -> None:
    """One of the processes launch() starts: the train stage as rank RANK of WORLD_SIZE. Its error, if
    any, goes to the launcher's error file (the stage prints it), not to the terminal."""
    interrupts.install()
    install_stop()
    die_with_the_launcher(signal.SIGKILL)
    orphans.remember()
    # DDP's note that depthwise convolutions' gradients are laid out unlike its buckets (a copy per step).
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    if not is_main():  # rank 0 shows the libraries' warnings, once
        warnings.simplefilter("ignore")
    code = 0
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.set_device(device())
        # The processes meet here first, before any output exists: a process that waits for the others
        # to join is deaf to signals (in C++) until the launcher kills it, while one that waits in a
        # collective later hears of a peer that has gone (its connection closes) and unwinds.
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        die_with_the_launcher(signal.SIGTERM)
        stage(Params.model_validate_json(os.environ[PARAMS_ENV]))
        interrupts.raise_if_requested()
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    except KeyboardInterrupt:
        code = INTERRUPTED
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else FAILED
    except BaseException as exc:
        _record(exc)
        code = FAILED
    finally:
        interrupts.ignore()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # as __main__ does: no interpreter teardown to turn a late signal into a traceback
