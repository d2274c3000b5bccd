"""Locust's user for `make load-test` (paddy_edge.serving.load_test runs locust with this file).

Each simulated client posts one photo to the served model's /invocations, as the README's request shows,
and sends the next as soon as the answer is in (no think time): N users are N requests in flight. An
answer counts only if it is HTTP 200 with one prediction that has a label and its top-k."""

from __future__ import annotations

import io
import os

import gevent
import numpy as np
from locust import HttpUser, constant, events, task

from paddy_edge.data.sample import sample_image
from paddy_edge.serving.load_test import WINDOW_ENV

PHOTO_SIZE = (640, 480)  # the Kaggle photos' size, landscape
TOP_K = 3


@events.init.add_listener
def _window_from_the_first_answer(environment, **_) -> None:
    """The run's seconds start at the first answer (load_test.py sets WINDOW_ENV)."""
    seconds = float(os.environ.get(WINDOW_ENV, "0"))
    if not seconds:  # by hand: locust's -t alone
        return
    answered: list[bool] = []

    def on_request(**_) -> None:
        if not answered:
            answered.append(True)
            gevent.spawn_later(seconds, environment.runner.quit)

    environment.events.request.add_listener(on_request)


def _request_body() -> dict:
    seed = int(os.environ.get("PADDY_EDGE_LOAD_SEED", "0"))
    buffer = io.BytesIO()
    sample_image("blast", np.random.default_rng(seed), *PHOTO_SIZE).save(buffer, format="JPEG", quality=90)
    from base64 import b64encode

    photo = b64encode(buffer.getvalue()).decode("ascii")  # serving.pyfunc.encode_image, without mlflow
    return {"dataframe_split": {"columns": ["image"], "data": [[photo]]}, "params": {"k": TOP_K}}


BODY = _request_body()


class PhotoClient(HttpUser):
    wait_time = constant(0)

    @task
    def classify(self) -> None:
        with self.client.post("/invocations", json=BODY, name="/invocations", catch_response=True) as answer:
            if answer.status_code != 200:
                answer.failure(f"HTTP {answer.status_code}: {answer.text[:200]}")
                return
            try:
                predictions = answer.json()["predictions"]
                ok = (
                    len(predictions) == 1
                    and predictions[0]["label"]
                    and len(predictions[0]["top_k"]) == TOP_K
                )
            except (ValueError, KeyError, TypeError, IndexError):
                ok = False
            if ok:
                answer.success()
            else:
                answer.failure(f"not one prediction with a label and its top {TOP_K}: {answer.text[:200]}")
