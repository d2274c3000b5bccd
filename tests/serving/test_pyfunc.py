"""The gated model as an MLflow Model: registered as the gate registers it, loaded back through the
registry alias, it answers photos as the phone's model does and refuses bad ones with one message."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, TimeoutError
from pathlib import Path

import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from paddy_edge.predict import classify
from paddy_edge.serving.pyfunc import ARTIFACTS, DECODES_ENV, MAX_PIXELS_ENV, SIGNATURE, encode_image
from paddy_edge.tracking.registry import MODEL_DESCRIPTION

from ..helpers import ROOT
from ..reliability.test_bad_images import jpeg_claiming, photo, png_claiming, truncated
from .conftest import ServedModel
from .photos import noisy_photo


@pytest.fixture
def load_champion(served_model: ServedModel, monkeypatch: pytest.MonkeyPatch):
    """Loads the served model's champion as a server process does (each load reads the environment)."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", served_model.tracking_uri)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(served_model.tracking_uri)
    yield lambda: mlflow.pyfunc.load_model(served_model.model_uri)
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def champion(load_champion):
    return load_champion()


def test_the_registered_version_is_a_logged_model_with_signature_example_and_the_phone_files(
    served_model: ServedModel, champion
) -> None:
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(served_model.tracking_uri)
    version = client.get_model_version(served_model.name, str(served_model.version))
    model_id = version.source.removeprefix("models:/")
    assert model_id.startswith("m-"), f"the version's source is a logged model, not {version.source}"
    assert client.get_registered_model(served_model.name).description == MODEL_DESCRIPTION
    logged = client.get_logged_model(model_id)
    assert logged.source_run_id == version.run_id
    linked = json.loads(logged.tags["mlflow.modelVersions"])
    assert linked == [{"name": served_model.name, "version": served_model.version}]
    assert {metric.key: metric.value for metric in logged.metrics} == {"accuracy.onnx": 0.5}

    listed = sorted(Path(a.path).name for a in client.list_artifacts(version.run_id, "model"))
    assert listed == sorted(p.name for p in served_model.export_dir.iterdir()), (
        "the run's model/ stays its own"
    )

    info = champion.metadata
    assert info.signature == SIGNATURE
    assert info.get_params_schema().to_dict() == [{"name": "k", "type": "long", "default": 3, "shape": None}]
    local = Path(mlflow.artifacts.download_artifacts(version.source, tracking_uri=served_model.tracking_uri))
    for key, file in ARTIFACTS.items():
        shipped = local / "artifacts" / file
        assert shipped.read_bytes() == (served_model.export_dir / file).read_bytes(), key
    example = json.loads((local / "serving_input_example.json").read_text())
    assert example["dataframe_split"]["columns"] == ["image"] and example["params"] == {"k": 3}
    # The phone package's files and the model's code file, byte for byte as in src/: nothing rewritten.
    phone = ROOT / "src/paddy_edge/phone"
    code = sorted(str(p.relative_to(local / "code")) for p in (local / "code").rglob("*.py"))
    assert code == sorted(f"paddy_edge_phone/{p.name}" for p in phone.glob("*.py"))
    for file in phone.glob("*.py"):
        assert (local / "code/paddy_edge_phone" / file.name).read_bytes() == file.read_bytes(), file.name
    assert (local / "pyfunc.py").read_bytes() == (ROOT / "src/paddy_edge/serving/pyfunc.py").read_bytes()


def test_it_answers_as_the_phone_model_does(served_model: ServedModel, champion, tmp_path: Path) -> None:
    photos = [
        noisy_photo(seed, size, fmt)
        for seed, size, fmt in [
            (1, (64, 48), "JPEG"),
            (2, (40, 90), "PNG"),
            (3, (300, 200), "JPEG"),
            (4, (33, 33), "WEBP"),
        ]
    ]
    photos.append(photo((48, 64), "JPEG", orientation=6))  # turned upright first, as the app's decoder does
    for index, data in enumerate(photos):
        (tmp_path / f"{index}.img").write_bytes(data)
    files = [tmp_path / f"{index}.img" for index in range(len(photos))]
    lite = classify(files, served_model.export_dir, k=10)

    answer = champion.predict(pd.DataFrame({"image": [encode_image(d) for d in photos]}), params={"k": 10})

    assert list(answer.columns) == ["label", "probability", "top_k"] and len(answer) == len(photos)
    for file, (_, row) in zip(files, answer.iterrows(), strict=True):
        expected = dict(lite[file])
        served = {entry["label"]: entry["probability"] for entry in row["top_k"]}
        assert served.keys() == expected.keys()
        assert max(abs(served[label] - expected[label]) for label in expected) < 1e-4
        assert row["label"] == lite[file][0][0] and row["probability"] == row["top_k"][0]["probability"]
    assert len({tuple(e["label"] for e in top) for top in answer["top_k"]}) > 1, "photos told apart"


def test_the_served_models_files_are_the_ones_paths_names() -> None:
    """pyfunc.py ships inside the model and imports no paddy_edge: its file names are written out."""
    from paddy_edge import paths

    named = (paths.ONNX_MODEL, paths.MODEL_CARD, paths.EXPORT_LABELS, paths.PHONE_MODEL)
    assert (
        dict(zip(("onnx", "model_card", "labels", "phone"), (p.name for p in named), strict=True))
        == ARTIFACTS
    )


def test_k_sets_how_many_labels_come_back(champion) -> None:
    frame = pd.DataFrame({"image": [encode_image(noisy_photo(5))]})
    assert len(champion.predict(frame)["top_k"][0]) == 3
    ranked = champion.predict(frame, params={"k": 5})["top_k"][0]
    assert len(ranked) == 5
    assert [e["probability"] for e in ranked] == sorted((e["probability"] for e in ranked), reverse=True)


@pytest.mark.parametrize(
    ("frame", "params", "words"),
    [
        (pd.DataFrame({"image": [encode_image(noisy_photo(1)), encode_image(b"hello")]}), {}, "row 1"),
        (pd.DataFrame({"image": [encode_image(png_claiming(30000, 30000))]}), {}, "decompression bomb"),
        (pd.DataFrame({"image": [encode_image(jpeg_claiming(30000, 30000))]}), {}, "too many pixels"),
        (pd.DataFrame({"image": [encode_image(png_claiming(5000, 5000))]}), {}, MAX_PIXELS_ENV),
        (pd.DataFrame({"image": [encode_image(truncated(noisy_photo(2)))]}), {}, "row 0"),
        (pd.DataFrame({"image": ["not base64 at all!"]}), {}, "not base64"),
        (pd.DataFrame({"image": [""]}), {}, "empty"),
        (pd.DataFrame({"image": pd.Series([], dtype=str)}), {}, "no photos"),
        (pd.DataFrame({"image": [encode_image(noisy_photo(1))]}), {"k": 0}, "params 'k'"),
        (pd.DataFrame({"image": [encode_image(noisy_photo(1))]}), {"k": 11}, "from 1 to 10"),
    ],
)
def test_a_bad_input_is_one_message_naming_it(champion, frame, params, words: str) -> None:
    with pytest.raises(MlflowException) as raised:
        champion.predict(frame, params=params)
    assert words in raised.value.message
    assert raised.value.get_http_status_code() == 400


def test_the_server_sets_its_pixel_limit_and_a_photo_over_it_is_refused_before_decoding(
    load_champion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 79 KB PNG of 9000 x 9000 (under PIL's limit) held 250 MB for 2.6 s of the served model; the
    server's own limit refuses such a photo from its header, with a 400 that names the setting."""
    monkeypatch.setenv(MAX_PIXELS_ENV, "10000")
    model = load_champion()
    small = pd.DataFrame({"image": [encode_image(noisy_photo(1))]})  # 64 x 48
    assert len(model.predict(small)) == 1
    with pytest.raises(MlflowException) as raised:
        model.predict(pd.DataFrame({"image": [encode_image(photo((120, 100)))]}))
    message = raised.value.message
    assert raised.value.get_http_status_code() == 400
    assert (
        "row 0" in message
        and "120x100 is 12,000 pixels, over 10,000" in message
        and MAX_PIXELS_ENV in message
    )

    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(MlflowException, match=f"{MAX_PIXELS_ENV}='lots': give a whole number"):
        load_champion()


def test_photos_are_decoded_a_bounded_number_at_a_time(
    load_champion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every decoding slot taken, a request waits for one instead of decoding another photo."""
    monkeypatch.setenv(DECODES_ENV, "1")
    model = load_champion()
    slot = model.unwrap_python_model().decoding
    frame = pd.DataFrame({"image": [encode_image(noisy_photo(2))]})
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert slot.acquire(timeout=5)
        try:
            waiting = pool.submit(model.predict, frame)
            with pytest.raises(TimeoutError):  # only ever early if the bound were not kept
                waiting.result(timeout=2)
        finally:
            slot.release()
        assert len(waiting.result(timeout=120)) == 1


def test_a_wrong_column_is_refused_by_the_signature(champion) -> None:
    with pytest.raises(MlflowException) as raised:
        champion.predict(pd.DataFrame({"photo": [encode_image(noisy_photo(1))]}))
    assert "image" in raised.value.message


def test_the_model_runs_the_code_logged_with_it(served_model: ServedModel, tmp_path: Path) -> None:
    """Loaded where this checkout's paddy_edge is already imported (make demo, a notebook) or where it is
    not (mlflow models serve), the model runs its own copy of the preprocessing: a later edit of the
    checkout cannot change what the champion answers."""
    script = (
        "import sys, mlflow, pandas as pd\n"
        f"m = mlflow.pyfunc.load_model({served_model.model_uri!r})\n"
        "print(sys.modules['paddy_edge_phone.images'].__file__)\n"
        "print(sys.modules['paddy_edge_phone.preprocess'].__file__)\n"
        f"print(m.predict(pd.DataFrame({{'image': [{encode_image(noisy_photo(1))!r}]}}))['label'][0])\n"
    )
    labels = json.loads((served_model.export_dir / "model_card.json").read_text())["labels"]
    for first in (
        "import paddy_edge.phone.images, paddy_edge.phone.preprocess\n",
        "",
    ):  # the checkout's, or none
        result = subprocess.run(
            [sys.executable, "-c", first + script],
            env=served_model.env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        images, preprocess, label = result.stdout.strip().splitlines()[-3:]
        for module in (images, preprocess):
            assert "/artifacts/code/paddy_edge_phone/" in module and "/src/" not in module
        assert label in labels
