"""`paddy-edge` (or `python -m paddy_edge`): one command per pipeline stage, plus predict and smoke.

Each stage command validates params.yaml, then calls the stage's plain function. dvc.yaml calls these."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from paddy_edge import paths
from paddy_edge.config import load_params
from paddy_edge.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)
err = Console(stderr=True)

ParamsOption = Annotated[Path, typer.Option("--params", help="The params file to validate and use.")]


def reports_user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input ends with one message that says what to do, exit code 2, and no traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


@app.command()
@reports_user_errors
def fetch(params: ParamsOption = paths.PARAMS) -> None:
    """Get the competition zip (Kaggle, a local zip, or generated samples) and extract it to data/raw."""
    from paddy_edge.fetch import fetch as run

    run(load_params(params).data)


@app.command()
@reports_user_errors
def prepare(params: ParamsOption = paths.PARAMS) -> None:
    """Check and resize the images, split train/valid, write labels.txt and the data report."""
    from paddy_edge.prepare import prepare as run

    run(load_params(params).prepare)


@app.command()
@reports_user_errors
def train(params: ParamsOption = paths.PARAMS) -> None:
    """Fine-tune the timm model with fastai; start the MLflow run the later stages log into."""
    from paddy_edge.train import main

    main(load_params(params), params)


@app.command()
@reports_user_errors
def export(params: ParamsOption = paths.PARAMS) -> None:
    """Export the lite TorchScript model (.ptl), ONNX, labels.txt and model_card.json."""
    from paddy_edge.export import main

    main(load_params(params))


@app.command()
@reports_user_errors
def evaluate(params: ParamsOption = paths.PARAMS) -> None:
    """Accuracy and parity of eager, lite and ONNX Runtime on photos preprocessed as the app does."""
    from paddy_edge.evaluate import main

    main(load_params(params))


@app.command()
@reports_user_errors
def bench(params: ParamsOption = paths.PARAMS) -> None:
    """Batch-1 latency of each format with pytest-benchmark, plus file sizes."""
    from paddy_edge.bench import main

    main(load_params(params))


@app.command()
@reports_user_errors
def gate(params: ParamsOption = paths.PARAMS) -> None:
    """Check accuracy, parity, latency and size against params `gates:`; register the model if it passes."""
    from paddy_edge.gate import main

    if not main(load_params(params)):
        raise typer.Exit(1)


@app.command()
@reports_user_errors
def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files to classify.")],
    model_dir: Annotated[
        Path, typer.Option(help="Folder with model.ptl and model_card.json.")
    ] = paths.EXPORTED,
    top_k: Annotated[int, typer.Option(min=1, help="How many labels to show per image.")] = 3,
) -> None:
    """Classify image files with the exported lite model, as the phone would."""
    from paddy_edge.predict import main

    if not main(images, model_dir, top_k):
        raise typer.Exit(1)


@app.command()
@reports_user_errors
def smoke(
    workspace: Annotated[Path, typer.Option(help="Where the smoke copy of the project lives.")] = Path(
        ".smoke"
    ),
    profile: Annotated[Path, typer.Option(help="Params overlay for the smoke run.")] = Path(
        "profiles/smoke.yaml"
    ),
) -> None:
    """Run the whole dvc.yaml offline on sample data, in a copy of the project (tracked files untouched)."""
    from paddy_edge.smoke import run_smoke

    sys.exit(run_smoke(Path.cwd(), workspace, profile))


@app.command("app-assets")
@reports_user_errors
def app_assets(
    export_dir: Annotated[Path, typer.Option("--from", help="The export stage's folder.")] = paths.EXPORTED,
    app_dir: Annotated[Path, typer.Option("--app", help="The Flutter app.")] = Path("flutter_app"),
    placeholder: Annotated[
        bool, typer.Option("--placeholder", help="Write the untrained placeholder instead.")
    ] = False,
) -> None:
    """Check the exported model bundle and copy it into the Flutter app's assets."""
    from paddy_edge.app_assets import install, write_placeholder

    card = write_placeholder(app_dir) if placeholder else install(export_dir, app_dir)
    kind = "placeholder (untrained)" if card["placeholder"] else f"model {card['name']}"
    print(
        f"Installed the {kind} into {app_dir}/assets: {card['num_classes']} classes, "
        f"{card['input']['width']}x{card['input']['height']} input"
    )
