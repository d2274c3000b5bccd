"""The card's contract with the app: which program the app runs (`phone`: an ExecuTorch .pte, by sha256),
what the app feeds the model and what it reads from it. export writes it into
the model card (`card_input`), the gate and app-assets refuse a card that asks for anything else
(`app_contract_problem`), and the app refuses the same cards (appInputContract in
flutter_app/lib/src/model_card.dart). preprocess.app_input is the mapping it names."""

from __future__ import annotations

import json

# (x - mean) / std, RGB planes as NCHW float32; the app takes the model's raw output as logits and computes
# the softmax. A model whose card asks for anything else would be fed other pixels on the phone than the
# ones it was evaluated on: the gate fails it and app-assets refuses it; the app refuses the same cards
# (appInputContract in flutter_app/lib/src/model_card.dart).
APP_INPUT_CONTRACT = {"channels": 3, "layout": "NCHW", "resize": "squish", "resample": "nearest"}
APP_SCALE = 1 / 255
APP_OUTPUT = "logits"
APP_RUNTIME = "executorch"  # executorch_flutter runs .pte programs: the phone format or its int8 twin
# Where a card's value comes from, so the message can say what to change.
_CONTRACT_SOURCE = {"resample": "evaluate.resample in params.yaml"}


def app_contract_problem(card: dict) -> str | None:
    """How the card differs from what the app (executorch_flutter) runs, feeds and reads, or None."""
    problem = _phone_problem(card.get("phone"), card.get("files"))
    if problem:
        return problem
    inputs = card.get("input")
    if not isinstance(inputs, dict):
        return "it has no 'input' section: export again"
    for key, expected in APP_INPUT_CONTRACT.items():
        if inputs.get(key) != expected:
            source = _CONTRACT_SOURCE.get(key, "the export stage")
            return (
                f"input.{key} is {json.dumps(inputs.get(key))}, but the app can only feed "
                f"{json.dumps(expected)}: set it in {source} and export again"
            )
    scale = inputs.get("scale")
    if not isinstance(scale, int | float) or abs(scale - APP_SCALE) > 1e-9:
        return f"input.scale is {json.dumps(scale)}, but the app scales pixels by 1/255: export again"
    if card.get("output") != APP_OUTPUT:
        return (
            f"output is {json.dumps(card.get('output'))}, but the app expects {json.dumps(APP_OUTPUT)} (it "
            "computes the softmax itself): export the model's raw scores"
        )
    return None


def _phone_problem(phone: object, files: object) -> str | None:
    if not isinstance(phone, dict):
        return (
            "it has no 'phone' section (the program the app runs): export again, with executorch in "
            "export.formats"
        )
    fmt, program = phone.get("format"), phone.get("file")
    if not isinstance(fmt, str) or not fmt.startswith(APP_RUNTIME) or not str(program).endswith(".pte"):
        return (
            f"phone is {json.dumps(fmt)} ({json.dumps(program)}), but the app runs ExecuTorch programs "
            "(.pte): export again"
        )
    if phone.get("int8") != fmt.endswith("_int8"):
        return f"phone.int8 is {json.dumps(phone.get('int8'))} for the {fmt} program: export again"
    listed = files.get(program) if isinstance(files, dict) else None
    if not isinstance(listed, dict) or listed.get("sha256") != phone.get("sha256"):
        return f"phone.sha256 is not the sha256 of {program} in the card's files: export again"
    return None


def card_input(size: int, mean: list[float], std: list[float], resample: str) -> dict:
    """The card's `input` section for a square model input of `size` pixels."""
    return {
        "height": size,
        "width": size,
        **{key: APP_INPUT_CONTRACT[key] for key in ("channels", "layout", "resize")},
        "resample": resample,
        "scale": APP_SCALE,
        "mean": list(mean),
        "std": list(std),
    }
