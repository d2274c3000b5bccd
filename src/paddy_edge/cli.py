"""`paddy-edge` (or `python -m paddy_edge`): one command per pipeline stage (from STAGES, in pipeline
order), plus check-params, predict, smoke and app-assets.

Each stage command validates params.yaml, then calls the stage's `run`. dvc.yaml calls these."""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from paddy_edge import paths
from paddy_edge.config import load_params
from paddy_edge.errors import GatesFailed, UserError
from paddy_edge.runtime import interrupts
from paddy_edge.stages import STAGES, Stage

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)
err = Console(stderr=True, soft_wrap=True)  # one message, one line: never wrapped mid-path

ParamsOption = Annotated[Path, typer.Option("--params", help="The params file to validate and use.")]


def reports_user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input ends with one message that says what to do, exit code 2, and no traceback; a failed
    gate, whose table is already printed, exits 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = command(*args, **kwargs)
            interrupts.raise_if_requested()
            return result
        except UserError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
        except GatesFailed:
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None  # __main__ says so
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = f" writing {exc.filename}" if exc.filename else ""
            err.print(
                f"[bold red]error:[/] no space left on the device{where}: free some space, then rerun "
                "(this run's partial outputs were removed)",
                highlight=False,
            )
            raise typer.Exit(2) from None

    return wrapper


def _stage_command(stage: Stage) -> Callable[..., None]:
    def command(params: ParamsOption = paths.PARAMS) -> None:
        stage.run(load_params(params, check_arch=stage.reads_arch))

    command.__name__ = stage.name
    command.__doc__ = stage.summary
    return reports_user_errors(command)


for _stage in STAGES:
    app.command(_stage.name)(_stage_command(_stage))


@app.command("check-params")
@reports_user_errors
def check_params(params: ParamsOption = paths.PARAMS) -> None:
    """Validate every key of params.yaml (dvc.yaml runs this whenever the file changes: a misspelt key that
    no stage reads would otherwise go unnoticed)."""
    checked = load_params(params)
    sections = ", ".join(checked.model_dump())
    print(f"{params}: every key is known and valid ({sections})")


@app.command()
@reports_user_errors
def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files to classify.")],
    model_dir: Annotated[
        Path, typer.Option(help="Folder with the phone program (model.pte) and model_card.json.")
    ] = paths.EXPORTED,
    top_k: Annotated[int, typer.Option(min=1, help="How many labels to show per image.")] = 3,
) -> None:
    """Classify image files with the phone's exported model, preprocessed as the phone does."""
    from paddy_edge.predict import main

    if not main(images, model_dir, top_k):
        raise typer.Exit(1)


@app.command()
@reports_user_errors
def smoke(
    workspace: Annotated[
        Path, typer.Option(help="Where the smoke copy of the project lives.")
    ] = paths.SMOKE_WORKSPACE,
    profile: Annotated[Path, typer.Option(help="Params overlay for the smoke run.")] = paths.SMOKE_PROFILE,
) -> None:
    """Run the whole dvc.yaml offline on sample data, in a copy of the project (tracked files untouched)."""
    from paddy_edge.smoke import run_smoke

    sys.exit(run_smoke(Path.cwd(), workspace, profile))


@app.command("app-assets")
@reports_user_errors
def app_assets(
    export_dir: Annotated[Path, typer.Option("--from", help="The export stage's folder.")] = paths.EXPORTED,
    app_dir: Annotated[Path, typer.Option("--app", help="The Flutter app.")] = paths.FLUTTER_APP,
    gate_report: Annotated[
        Path | None,
        typer.Option(
            "--gate", help="The gate report (default: gate.json beside the bundle, else reports/gate.json)."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Install even if the gate failed, with a warning: experiments only."),
    ] = False,
    placeholder: Annotated[
        bool, typer.Option("--placeholder", help="Write the untrained placeholder instead (needs no gate).")
    ] = False,
) -> None:
    """Check the exported model bundle and its passed gate, then copy it into the Flutter app's assets."""
    import tempfile

    from paddy_edge.app.app_assets import install

    if placeholder:
        from paddy_edge.stages.export import write_placeholder

        with tempfile.TemporaryDirectory() as scratch:
            write_placeholder(Path(scratch))
            card = install(Path(scratch), app_dir)
    else:
        card = install(export_dir, app_dir, gate_report, force)
    kind = "placeholder (untrained)" if card["placeholder"] else f"model {card['name']}"
    print(
        f"Installed the {kind} into {app_dir}/assets: {card['num_classes']} classes, "
        f"{card['input']['width']}x{card['input']['height']} input"
    )


ModelOption = Annotated[
    str | None,
    typer.Option("--model", help="Registered model name (default: params.yaml mlflow.registered_model)."),
]


@app.command()
@reports_user_errors
def demo(
    model: ModelOption = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 7860,  # serving.demo.DEFAULT_PORT
) -> None:
    """A demo page on 127.0.0.1: a photo (upload or webcam) -> the champion model's top 3 and its latency."""
    from paddy_edge.serving.champion import registered_name
    from paddy_edge.serving.demo import serve

    serve(model or registered_name(), port=port)


@app.command()
@reports_user_errors
def serve(
    model: ModelOption = None,
    alias: Annotated[str, typer.Option(help="The registry alias to serve.")] = "champion",
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5001,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes, each with the model.")] = 1,
    host: Annotated[str, typer.Option(help="The interface to listen on.")] = "127.0.0.1",
    max_pixels: Annotated[
        int | None, typer.Option(min=1, help="Refuse photos of more pixels (400). Default 24,000,000.")
    ] = None,
    decodes: Annotated[
        int | None, typer.Option(min=1, help="Photos decoded at once in each worker; others wait. Default 2.")
    ] = None,
) -> None:
    """Serve a registered MLflow Model over HTTP with `mlflow models serve` (POST /invocations), after
    checking that it exists and is one."""
    import os

    from paddy_edge.serving.champion import find, registered_name
    from paddy_edge.serving.pyfunc import DECODES_ENV, MAX_PIXELS_ENV
    from paddy_edge.tracking.store_uri import connect

    for variable, limit in ((MAX_PIXELS_ENV, max_pixels), (DECODES_ENV, decodes)):
        if limit is not None:  # the served model reads them in each worker (serving/pyfunc.py)
            os.environ[variable] = str(limit)

    os.environ["MLFLOW_TRACKING_URI"] = connect()  # the store checked here is the one MLflow serves from
    name = model or registered_name()
    version = find(name, alias)
    _can_listen(host, port)
    print(f"Serving {name} v{version.version} ({alias}) at http://{host}:{port}/invocations", flush=True)
    command = [sys.executable, "-m", "mlflow", "models", "serve", "--model-uri", f"models:/{name}@{alias}"]
    command += ["--env-manager", "local", "--host", host, "--port", str(port), "--workers", str(workers)]
    os.execv(sys.executable, command)  # MLflow's server takes this process over: its signals, its exit


@app.command("remote-s3")
@reports_user_errors
def remote_s3(
    url: Annotated[str, typer.Argument(help="s3://bucket/path, with no credentials in it.", envvar="URL")],
    endpoint: Annotated[str, typer.Option(help="http://host:port of an S3-compatible server.")] = "",
) -> None:
    """Make an S3 bucket the default DVC remote (`storage`); credentials stay out of .dvc/config."""
    from paddy_edge.dvc_remote import add_s3_remote

    add_s3_remote(Path.cwd(), url, endpoint)


def _can_listen(host: str, port: int) -> None:
    """MLflow's server fails on a taken port with a traceback about uvicorn's return code: say it first."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"port {port} on {host} is taken (another make serve?): stop that server, or choose "
                    f"another port: make serve SERVE_PORT={port + 1}"
                ) from None
            raise UserError(
                f"cannot listen on {host}:{port} ({exc.strerror}): choose another SERVE_HOST or SERVE_PORT"
            ) from None


@app.command("load-test")
@reports_user_errors
def load_test(
    url: Annotated[
        str, typer.Option(help="The served model (make serve), on 127.0.0.1.")
    ] = "http://127.0.0.1:5001",
    users: Annotated[int, typer.Option(help="Concurrent clients (1 to 64).")] = 4,
    seconds: Annotated[int, typer.Option(help="How long, in seconds (1 to 600).")] = 20,
    out: Annotated[Path, typer.Option(help="The JSON report; locust's CSV and HTML go beside it.")] = Path(
        "reports/load_test.json"
    ),
) -> None:
    """Load-test the served model with locust: N clients for T seconds; requests/s, p50/p95/p99, errors."""
    from paddy_edge.serving.load_test import load_test as run

    if run(url, users, seconds, out)["errors"]:
        raise typer.Exit(1)
