"""`make serve`: a real `mlflow models serve` process of the champion answers photos over HTTP, answers
each bad request with a 4xx that says what is wrong, and keeps serving."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from paddy_edge.serving.pyfunc import MAX_PIXELS_ENV, encode_image

from ..helpers import ROOT
from ..helpers.servers import ModelServer, start_model_server
from ..reliability.test_bad_images import photo, png_claiming
from .conftest import ServedModel
from .photos import noisy_photo

JSON = "application/json"


def post(server: ModelServer, body: bytes, content_type: str = JSON) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{server.url}/invocations", data=body, headers={"Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        try:
            return error.code, json.loads(text)
        except json.JSONDecodeError:
            return error.code, {"message": text}


def photos_request(*images: bytes, k: int | None = None, column: str = "image") -> bytes:
    body: dict = {"dataframe_split": {"columns": [column], "data": [[encode_image(i)] for i in images]}}
    if k is not None:
        body["params"] = {"k": k}
    return json.dumps(body).encode()


def test_it_answers_photos_with_the_top_k(server: ModelServer, served_model: ServedModel) -> None:
    status, answer = post(server, photos_request(noisy_photo(1), noisy_photo(2, fmt="PNG"), k=3))
    assert status == 200, answer
    labels = json.loads((served_model.export_dir / "model_card.json").read_text())["labels"]
    assert len(answer["predictions"]) == 2
    for prediction in answer["predictions"]:
        assert prediction["label"] in labels and 0 < prediction["probability"] <= 1
        assert prediction["top_k"][0]["label"] == prediction["label"]
        assert len(prediction["top_k"]) == 3


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (photos_request(b"not a photo"), JSON, "not an image"),
        (photos_request(png_claiming(30000, 30000)), JSON, "decompression bomb"),
        (photos_request(png_claiming(5000, 5000)), JSON, "over the pixel limit"),
        (photos_request(noisy_photo(1), column="photo"), JSON, "image"),
        (photos_request(noisy_photo(1), k=0), JSON, "params 'k'"),
        (b"", JSON, "valid JSON"),
        (b"{not json", JSON, "valid JSON"),
        (
            json.dumps({"dataframe_split": {"columns": ["image"], "data": []}}).encode(),
            "application/json",
            "",
        ),
        (b"\xff\xd8\xff raw jpeg bytes", "image/jpeg", "content type"),
    ],
    ids=[
        "not-an-image",
        "bomb",
        "over-the-limit",
        "wrong-column",
        "bad-k",
        "empty-body",
        "bad-json",
        "no-rows",
        "raw-bytes",
    ],
)
def test_a_bad_request_gets_a_4xx_with_a_message_and_the_server_keeps_serving(
    server: ModelServer, body: bytes, content_type: str, words: str
) -> None:
    status, answer = post(server, body, content_type)
    assert 400 <= status < 500, (status, answer)
    message = answer.get("message", "")
    assert message and words.lower() in message.lower(), answer
    assert "Traceback" not in json.dumps(answer)
    status, answer = post(server, photos_request(noisy_photo(3)))
    assert status == 200 and len(answer["predictions"]) == 1


def test_make_serve_takes_its_pixel_limit_and_decodes(served_model: ServedModel, tmp_path: Path) -> None:
    """SERVE_MAX_PIXELS reaches every worker's model: a photo over it gets a 400 naming the limit, one
    under it an answer. A value that is no count stops make serve before it starts."""
    settings = ("SERVE_MAX_PIXELS=10000", "SERVE_DECODES=1")
    strict = start_model_server(
        ROOT, served_model.env, served_model.name, tmp_path / "serve.log", 2, *settings
    )
    try:
        status, answer = post(strict, photos_request(photo((120, 100))))
        assert status == 400 and "over 10,000" in answer["message"] and MAX_PIXELS_ENV in answer["message"]
        status, answer = post(strict, photos_request(noisy_photo(1)))
        assert status == 200 and len(answer["predictions"]) == 1
    finally:
        strict.stop()

    command = ["make", "-C", str(ROOT), "-o", "setup", "serve", "SERVE_PORT=1", "SERVE_DECODES=0"]
    refused = subprocess.run(command, env=served_model.env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "Traceback" not in refused.stdout + refused.stderr
    assert "--decodes" in refused.stderr


def test_the_readme_curl_works(server: ModelServer, tmp_path: Path) -> None:
    """The request README shows, built with the shell tools it names (base64, curl)."""
    import subprocess

    photo = tmp_path / "leaf.jpg"
    photo.write_bytes(noisy_photo(4))
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- serve-curl -->", 2)[1].split("```bash", 1)[1].split("```", 1)[0]
    script = block.replace("leaf.jpg", str(photo)).replace("127.0.0.1:5001", server.url.split("//")[1])
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["predictions"][0]["label"]


def test_make_serve_without_a_champion_says_what_to_do_and_leaves_no_store(
    served_model: ServedModel, tmp_path: Path
) -> None:
    """Before any make smoke (no store), and with a store whose model has no such name: one line, exit 2,
    and no empty mlflow.db left behind by the check."""
    import subprocess

    command = ["make", "-C", str(ROOT), "-o", "setup", "serve", "SERVE_PORT=1"]
    fresh = {**served_model.env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    nothing = subprocess.run(command, env=fresh, capture_output=True, text=True, timeout=300)
    assert nothing.returncode != 0
    assert "no MLflow store at" in nothing.stderr and "run make smoke first" in nothing.stderr
    assert "Traceback" not in nothing.stdout + nothing.stderr
    assert not (tmp_path / "mlflow.db").exists()

    other = subprocess.run(
        [*command, "MODEL_NAME=no-such-model"],
        env=served_model.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert other.returncode != 0 and "Traceback" not in other.stdout + other.stderr
    assert "no model 'no-such-model' with the alias 'champion'" in other.stderr
    assert served_model.name in other.stderr, "it names the models that do have a champion"


def test_make_serve_on_a_taken_port_names_it_and_how_to_choose_another(
    served_model: ServedModel, server
) -> None:
    import subprocess

    port = server.url.rsplit(":", 1)[1].split("/")[0]
    command = ["make", "-C", str(ROOT), "-o", "setup", "serve", f"SERVE_PORT={port}"]
    command.append(f"MODEL_NAME={served_model.name}")
    taken = subprocess.run(command, env=served_model.env, capture_output=True, text=True, timeout=300)
    assert taken.returncode != 0 and "Traceback" not in taken.stdout + taken.stderr
    assert f"port {port} on 127.0.0.1 is taken" in taken.stderr
    assert f"make serve SERVE_PORT={int(port) + 1}" in taken.stderr
