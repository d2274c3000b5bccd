"""Stage evaluate: accuracy of every format export built (paddy_edge.formats) on the validation photos,
preprocessed as the app does from the original files; parity of each export with eager; per-class
precision/recall and a confusion matrix of the phone's format (ExecuTorch). A validation photo that can
no longer be read is skipped and named (eval.json counts them); a model card that disagrees with the model
or the manifest is one message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import track

from paddy_edge import paths
from paddy_edge.card import read_card
from paddy_edge.config import Params, flatten
from paddy_edge.errors import UserError
from paddy_edge.formats import REGISTRY, built_formats, phone_of, runner
from paddy_edge.phone.images import UnreadableImage
from paddy_edge.phone.preprocess import load_app_input, softmax
from paddy_edge.runtime import outputs
from paddy_edge.tracking import mlflow_runs


def validation_inputs(
    card: dict, manifest: Path, raw: Path
) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, str]]:
    """The validation photos as the app feeds them, their label indices and sources, and the photos that
    could not be read (source -> reason), which are left out and printed."""
    frame = pd.read_csv(manifest)
    frame = frame[frame["split"] == "valid"]
    index = {label: i for i, label in enumerate(card["labels"])}
    unknown = sorted(set(frame["label"]) - set(index))
    if unknown:
        raise UserError(
            f"{manifest} has label(s) {', '.join(unknown)} that {paths.MODEL_CARD.name} does not list: the "
            "model was trained on other data. Run dvc repro."
        )
    inputs, truth, sources, skipped = [], [], [], {}
    rows = zip(frame["source"], frame["label"], strict=True)
    for source, label in track(rows, total=len(frame), description="Preprocessing", transient=True):
        try:
            inputs.append(load_app_input(raw / source, card["input"]))
        except UnreadableImage as exc:
            skipped[source] = str(exc)
            continue
        truth.append(index[label])
        sources.append(source)
    for source, reason in skipped.items():
        print(f"Skipped validation photo {raw / source}: {reason}")
    if not inputs:
        raise UserError(f"none of the {len(frame)} validation photos under {raw} can be read: run dvc repro")
    return np.stack(inputs), np.asarray(truth), sources, skipped


def check_outputs(card: dict, probs: dict[str, np.ndarray]) -> None:
    """Every format gives one output per label of the model card."""
    for fmt, values in probs.items():
        if values.shape[1] != len(card["labels"]):
            raise UserError(
                f"{paths.MODEL_CARD} lists {len(card['labels'])} labels but {REGISTRY[fmt].file} gives "
                f"{values.shape[1]} outputs: they come from different runs. Run dvc repro export."
            )


def probabilities(fmt: str, inputs: np.ndarray, batch_size: int, one_at_a_time: bool = False) -> np.ndarray:
    run = runner(fmt)
    # The phone runs one photo at a time; so does the phone's program here, to test exactly that path.
    step = 1 if one_at_a_time else batch_size
    chunks = [run(inputs[i : i + step]) for i in range(0, len(inputs), step)]
    return softmax(np.concatenate(chunks))


def compare(probs: dict[str, np.ndarray], truth: np.ndarray) -> dict:
    predicted = {fmt: p.argmax(axis=1) for fmt, p in probs.items()}
    metrics: dict = {"valid_images": len(truth)}
    metrics["accuracy"] = {fmt: float((pred == truth).mean()) for fmt, pred in predicted.items()}
    exports = [fmt for fmt in probs if fmt != "eager"]
    metrics["agreement"] = {fmt: float((predicted[fmt] == predicted["eager"]).mean()) for fmt in exports}
    metrics["max_abs_prob_diff"] = {fmt: float(np.abs(probs[fmt] - probs["eager"]).max()) for fmt in exports}
    return metrics


def per_class(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict:
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=range(len(labels)), zero_division=0
    )
    return {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }


def confusion_png(truth: np.ndarray, predicted: np.ndarray, labels: list[str], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    figure, axes = plt.subplots(figsize=(9, 8))
    ConfusionMatrixDisplay.from_predictions(
        truth,
        predicted,
        labels=range(len(labels)),
        display_labels=labels,
        ax=axes,
        colorbar=False,
        xticks_rotation=60,
    )
    axes.set_title("The phone's program on validation photos (phone preprocessing)")
    figure.tight_layout()
    figure.savefig(target, dpi=110)
    plt.close(figure)


def evaluate(params: Params) -> tuple[dict, dict]:
    """Write the evaluation reports; return the metrics and the phone model's per-class scores."""
    card = read_card()
    inputs, truth, sources, skipped = validation_inputs(card, paths.MANIFEST, paths.RAW)
    on_phone = phone_of(card)
    probs = {
        fmt: probabilities(fmt, inputs, params.evaluate.batch_size, one_at_a_time=fmt == on_phone)
        for fmt in built_formats(card)
    }
    check_outputs(card, probs)
    metrics = {**compare(probs, truth), "skipped_images": len(skipped)}
    labels = card["labels"]
    phone = probs[on_phone].argmax(axis=1)
    outputs.write_json(paths.EVAL_METRICS, metrics)
    scores = per_class(truth, phone, labels)
    per_class_rows = pd.DataFrame([{"class": label, **row} for label, row in scores.items()])
    with outputs.atomic_file(paths.PER_CLASS) as tmp:
        per_class_rows.to_csv(tmp, index=False)
    predictions = pd.DataFrame(
        {"image": sources, "actual": [labels[i] for i in truth], "predicted": [labels[i] for i in phone]}
    )
    with outputs.atomic_file(paths.PREDICTIONS) as tmp:
        predictions.to_csv(tmp, index=False)
    with outputs.atomic_file(paths.CONFUSION_PNG) as tmp:
        confusion_png(truth, phone, labels, tmp)
    return metrics, scores


def run(params: Params) -> None:
    import mlflow

    with mlflow_runs.resume_run(params.mlflow.experiment, "evaluate"):
        metrics, scores_per_class = evaluate(params)
        mlflow_runs.log_settings(params, "evaluate.batch_size")
        flat = flatten({k: v for k, v in metrics.items() if isinstance(v, dict)})
        mlflow.log_metrics(flat)
        for label, scores in scores_per_class.items():
            mlflow.log_metrics(
                {f"recall.{label}": scores["recall"], f"precision.{label}": scores["precision"]}
            )
        for report in (paths.EVAL_METRICS, paths.PER_CLASS, paths.PREDICTIONS, paths.CONFUSION_PNG):
            mlflow.log_artifact(str(report), "reports")
    accuracy = ", ".join(f"{fmt} {value:.3f}" for fmt, value in metrics["accuracy"].items())
    agreement = ", ".join(f"{fmt} {value:.3f}" for fmt, value in metrics["agreement"].items())
    print(
        f"Accuracy on {metrics['valid_images']} validation photos: {accuracy}; "
        f"agreement with eager: {agreement}"
    )
