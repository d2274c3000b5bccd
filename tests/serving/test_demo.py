"""`make demo`: a real Gradio process on 127.0.0.1 serving the champion, driven through its HTTP API with
gradio_client as any client would: a photo gets the served model's own top 3 and a latency line; what is
not a photo gets a message for a person; without a champion the command says what to do in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..helpers import ROOT
from ..helpers.cli import cli, start_cli
from ..helpers.servers import free_port, wait_until_answers
from ..helpers.signals import sigint_default
from .conftest import ServedModel
from .photos import noisy_photo


@pytest.fixture(scope="module")
def demo_url(served_model: ServedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("demo") / "demo.log"
    command = ["make", "-C", str(ROOT), "-o", "setup", "demo", f"MODEL_NAME={served_model.name}"]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, f"DEMO_PORT={port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**served_model.env, "GRADIO_ANALYTICS_ENABLED": "False"},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_answers(url, process, log, "make demo")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def client(demo_url: str):
    from gradio_client import Client

    return Client(demo_url, verbose=False)


def test_a_photo_gets_the_served_models_top_3_and_the_latency(
    client, served_model: ServedModel, tmp_path: Path
) -> None:
    import mlflow
    import pandas as pd
    from gradio_client import handle_file

    from paddy_edge.serving.pyfunc import encode_image

    photo = tmp_path / "leaf.png"
    photo.write_bytes(noisy_photo(3, (120, 90), "PNG"))
    top, latency = client.predict(handle_file(str(photo)), api_name="/classify")

    mlflow.set_tracking_uri(served_model.tracking_uri)
    model = mlflow.pyfunc.load_model(served_model.model_uri)
    expected = model.predict(pd.DataFrame({"image": [encode_image(photo.read_bytes())]}), params={"k": 3})
    assert [c["label"] for c in top["confidences"]] == [t["label"] for t in expected["top_k"].iloc[0]]
    assert [c["confidence"] for c in top["confidences"]] == pytest.approx(
        [t["probability"] for t in expected["top_k"].iloc[0]], abs=1e-6
    )
    assert top["label"] == expected["label"].iloc[0]
    assert latency.startswith("Predicted in **") and " ms**" in latency


def test_a_file_that_is_no_photo_or_no_file_gets_a_message_not_a_traceback(client, tmp_path: Path) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo\n")
    with pytest.raises(
        AppError, match=r"^That file is not a photo this page can read: give a JPEG or PNG\.$"
    ):
        client.predict(handle_file(str(text)), api_name="/classify")
    with pytest.raises(AppError, match=r"^Upload a photo or take one with the webcam first\.$"):
        client.predict(None, api_name="/classify")


def test_the_page_needs_nothing_from_the_internet(demo_url: str) -> None:
    with urllib.request.urlopen(demo_url, timeout=30) as answer:
        page = answer.read().decode()
    with urllib.request.urlopen(f"{demo_url}theme.css", timeout=30) as answer:
        theme = answer.read().decode()
    for text in (page, theme):
        assert "fonts.googleapis" not in text and "cdn.jsdelivr" not in text
    assert "@import url(" not in theme and "paddy-edge demo" in page


def test_without_a_champion_the_demo_says_run_make_smoke_in_one_line(served_model: ServedModel) -> None:
    done = cli(
        "demo", "--model", "no-such-model", "--port", str(free_port()), env=served_model.env, timeout=120
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("error: no model 'no-such-model' with the alias 'champion' in sqlite:///")
    assert (
        f"(models with a champion in this store: {served_model.name}; choose one with MODEL_NAME=" in lines[0]
    )
    assert lines[0].endswith("run make smoke first")


def test_ctrl_c_stops_the_demo_with_one_line(served_model: ServedModel, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        process = start_cli(
            *("demo", "--model", served_model.name, "--port", str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**served_model.env, "GRADIO_ANALYTICS_ENABLED": "False"},
            preexec_fn=sigint_default,
        )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/", process, log, "paddy-edge demo")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert text.rstrip().endswith("demo stopped") and "Traceback" not in text, text[-2000:]
    assert "unfinished outputs" not in text
