"""Shared fixtures (what they build with is in tests/helpers/). Test configurations are tiny overlays on
the real params.yaml (one place for config: helpers.pipeline.TEST_OVERLAY).

The `pipeline` fixture runs the real `dvc repro` of the shipped smoke profile once per session, in a
temporary copy of the repository with its own SQLite MLflow store; every test that uses it is marked
`slow` here (`make test-fast` leaves them out). `tiny_bundle` is what export writes, on a tiny network, in
under a second: for the tests of what happens to a bundle after export."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from paddy_edge.config import SampleParams

from .helpers.pipeline import Pipeline, smoke_pipeline

# Under pytest-xdist (make test: -n 2) each worker's processes would start a thread pool per core, and
# two workers' torch pools on 2 cores stall each other at every barrier (the smoke pipeline took 650 s
# instead of about 200). Each worker gets its share of the cores; set OMP_NUM_THREADS to override.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "pipeline" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.ptl, model.onnx, model.pte (the phone's), labels.txt and model_card.json of an untrained 32-px
    network with the real labels, written by the export stage's own write_bundle."""
    from paddy_edge import formats
    from paddy_edge.data.labels import PADDY_LABELS
    from paddy_edge.model import IMAGENET_MEAN, IMAGENET_STD, ModelSpec
    from paddy_edge.stages.export import model_metadata, tiny_network, write_bundle

    out = tmp_path_factory.mktemp("tiny_bundle")
    network = tiny_network(len(PADDY_LABELS), seed=1)
    model = ModelSpec("tiny-test-network", list(PADDY_LABELS), 32, IMAGENET_MEAN, IMAGENET_STD)
    metadata = {**model_metadata(model, "nearest", "run-of-the-tiny-bundle"), "placeholder": False}
    spec = formats.ExportSpec(model, metadata, 17)
    write_bundle(network, spec, out, name="paddy-edge-tiny", names=("lite", "onnx", "executorch"))
    return out


@pytest.fixture
def tiny_sample() -> SampleParams:
    return SampleParams(images_per_class=6, test_images=3, width=48, height=64, seed=7)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return smoke_pipeline(tmp_path_factory.mktemp("repo"))
