"""`make demo`: a page for people, on 127.0.0.1. A photo (upload or webcam) -> the champion's top-3 labels
with probabilities, and how long the prediction took.

It runs the registered MLflow Model itself (`models:/<name>@champion`, the pyfunc that `make serve`
serves), in this process, so the page answers exactly what the served model answers. Gradio's own HTTP
API (endpoint `/classify`) is what the tests drive with gradio_client. Nothing is fetched from the
internet: analytics are off and the default theme's fonts ship inside the gradio package."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no phoning home

from paddy_edge.serving.champion import find as find_champion
from paddy_edge.tracking import store_uri

DEFAULT_PORT = 7860
TOP_K = 3
EXAMPLE_LABELS = ("blast", "normal")  # generated photos the page offers as examples


@dataclass(frozen=True)
class Champion:
    name: str
    version: str
    run_id: str
    model: Any  # mlflow.pyfunc.PyFuncModel


def load_champion(name: str) -> Champion:
    """The registered model's champion, loaded as the pyfunc; a UserError (one line) when there is none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    version = find_champion(name)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    except MlflowException as exc:
        raise store_uri.user_error(exc) from None
    return Champion(name, str(version.version), version.run_id, model)


def classify(champion: Champion, photo: bytes, k: int = TOP_K) -> tuple[dict[str, float], float]:
    """({label: probability} best first, milliseconds the model took), or ValueError naming what is wrong."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from paddy_edge.serving.pyfunc import COLUMN, encode_image

    started = time.perf_counter()
    try:
        answer = champion.model.predict(pd.DataFrame({COLUMN: [encode_image(photo)]}), params={"k": k})
    except MlflowException as exc:
        raise ValueError(exc.message.removeprefix("row 0: ")) from None
    elapsed_ms = (time.perf_counter() - started) * 1000
    return {top["label"]: top["probability"] for top in answer["top_k"].iloc[0]}, elapsed_ms


def example_photos(folder: Path) -> list[str]:
    """A few generated photos (paddy_edge.data.sample, the smoke data's generator) to try the page with."""
    import numpy as np

    from paddy_edge.data.sample import sample_image

    files = []
    for seed, label in enumerate(EXAMPLE_LABELS):
        path = folder / f"example-{label}.jpg"
        sample_image(label, np.random.default_rng(seed), 320, 240).save(path, quality=90)
        files.append(str(path))
    return files


def build(champion: Champion, examples: list[str]) -> Any:
    """The page: photo in; top-k and latency out. Endpoint `/classify` for API clients."""
    import gradio as gr
    from PIL import UnidentifiedImageError

    def photo_input() -> gr.Image:
        """gr.Image whose unreadable upload is a message for the person, not a bare 'Error'. Its
        preprocess is wrapped on the instance: a subclass would make gradio write a .pyi beside this file."""
        image = gr.Image(sources=["upload", "webcam"], type="filepath", label="Photo of a rice plant")
        read = image.preprocess

        def preprocess(payload: Any) -> Any:
            try:
                return read(payload)
            except (UnidentifiedImageError, OSError, ValueError):
                raise gr.Error("That file is not a photo this page can read: give a JPEG or PNG.") from None

        image.preprocess = preprocess
        return image

    def on_photo(path: str | None) -> tuple[dict[str, float] | None, str]:
        if not path:
            raise gr.Error("Upload a photo or take one with the webcam first.")
        try:
            top, elapsed_ms = classify(champion, Path(path).read_bytes())
        except ValueError as exc:
            raise gr.Error(f"That photo cannot be classified: {exc}") from None
        return top, f"Predicted in **{elapsed_ms:.1f} ms** (the model alone, on this machine's CPU)."

    with gr.Blocks(title="paddy-edge demo", analytics_enabled=False) as page:
        gr.Markdown(
            f"# paddy-edge: rice leaf diseases\nModel **{champion.name}** version {champion.version} "
            f"(the `champion`, MLflow run `{champion.run_id[:8]}`): the phone app's network, run as ONNX "
            "behind the app's preprocessing."
        )
        with gr.Row():
            with gr.Column():
                photo = photo_input()
                button = gr.Button("Classify", variant="primary")
            with gr.Column():
                labels = gr.Label(num_top_classes=TOP_K, label=f"Top {TOP_K}")
                latency = gr.Markdown(elem_id="latency")
        gr.Examples(examples, inputs=photo, label="Generated example photos (the smoke data's generator)")
        button.click(on_photo, inputs=photo, outputs=[labels, latency], api_name="classify")
    return page


def serve(name: str, port: int = DEFAULT_PORT) -> None:
    """Load the champion, then serve the page on 127.0.0.1 (this machine only) until interrupted."""
    host = "127.0.0.1"
    champion = load_champion(name)
    import gradio as gr

    with tempfile.TemporaryDirectory(prefix="paddy-edge-demo-") as scratch:
        examples = example_photos(Path(scratch))
        print(f"Serving {name} version {champion.version} at http://{host}:{port} (Ctrl-C stops it)")
        build(champion, examples).launch(
            server_name=host,
            server_port=port,
            theme=gr.themes.Default(),  # its fonts are files inside gradio: nothing from a CDN
            ssr_mode=False,
            allowed_paths=[scratch],
            footer_links=["api"],
            quiet=True,
        )
