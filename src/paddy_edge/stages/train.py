"""Stage train: fastai vision_learner on a timm architecture, fed the prepared split; starts the MLflow run.

Photos are squished to the input size (ResizeMethod.Squish) because the app squishes the whole photo:
a crop in training and a squish on the phone would be a silent accuracy loss.

With train.processes > 1 this stage launches that many processes that run it again (launch.py):
each trains on its share of every batch, and rank 0 alone writes the outputs and the MLflow run."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import pandas as pd
import torch

from paddy_edge import paths
from paddy_edge.config import Params, TrainParams
from paddy_edge.errors import UserError
from paddy_edge.model import ModelSpec, normalization, save_weights
from paddy_edge.runtime import outputs
from paddy_edge.tracking import mlflow_runs
from paddy_edge.training import ddp, launch

HISTORY_COLUMNS = ("epoch", "train_loss", "valid_loss", "accuracy")


def dataloaders(params: TrainParams, prepared: Path, labels: list[str], mean, std):
    from fastai.vision.all import (
        CategoryBlock,
        ColReader,
        ColSplitter,
        DataBlock,
        ImageBlock,
        Normalize,
        Resize,
        ResizeMethod,
        aug_transforms,
    )

    manifest = pd.read_csv(prepared / "manifest.csv")
    manifest["is_valid"] = manifest["split"] == "valid"
    augment = aug_transforms(max_rotate=15.0, max_zoom=1.1, max_warp=0.1) if params.augment else []
    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock(vocab=labels)),
        get_x=ColReader("image", pref=f"{prepared}/"),
        get_y=ColReader("label"),
        splitter=ColSplitter("is_valid"),
        item_tfms=Resize(params.image_size, method=ResizeMethod.Squish),
        batch_tfms=[*augment, Normalize.from_stats(list(mean), list(std))],
    )
    share = ddp.batch_share(params)  # of every batch, in this process (all of it in one process)
    return block.dataloaders(manifest, bs=share, num_workers=params.num_workers, device=ddp.device())


def _epoch_logger(history_path: Path):
    """A fastai callback: after each epoch, append the metrics to the history CSV and to MLflow."""
    import mlflow
    from fastai.callback.core import Callback
    from fastai.learner import Recorder

    class EpochLogger(Callback):
        order = Recorder.order + 1

        def before_fit(self):
            self.done = getattr(self, "done", 0)

        def after_epoch(self):
            train_loss, valid_loss, accuracy = (float(v) for v in self.recorder.values[-1][:3])
            row = dict(zip(HISTORY_COLUMNS, (self.done, train_loss, valid_loss, accuracy), strict=True))
            with history_path.open("a", newline="") as handle:
                csv.writer(handle).writerow(row.values())
            mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=self.done)
            if not sys.stdout.isatty():
                print(
                    f"epoch {self.done}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "epoch")
                )
            self.done += 1

    return EpochLogger()


def learner(params: TrainParams, dls):
    from fastai.metrics import accuracy
    from fastai.vision.learner import vision_learner

    try:
        learn = vision_learner(
            dls, params.arch, pretrained=params.pretrained, normalize=False, metrics=accuracy
        )
    except OSError as exc:  # what a failed download raises (huggingface_hub, requests, urllib, offline)
        if not params.pretrained:
            raise
        raise UserError(
            f"could not load pretrained weights for {params.arch} ({type(exc).__name__}: {exc}). "
            "Offline? Set train.pretrained: false, or pre-fill the Hugging Face cache (HF_HOME) on a "
            "machine with network access."
        ) from None
    if not sys.stdout.isatty():  # keep CI logs readable: one line per epoch instead of live bars
        from fastai.callback.progress import ProgressCallback

        learn.remove_cb(ProgressCallback)
        learn.logger = lambda _: None  # EpochLogger prints a labelled line instead of fastai's raw list
    if torch.cuda.is_available():
        learn = learn.to_fp16()
    return learn


def _learner(params: TrainParams, prepared: Path):
    """The learner on the prepared split, its labels, and the normalization."""
    from fastai.torch_core import set_seed

    set_seed(params.seed, reproducible=True)
    labels = (prepared / "labels.txt").read_text().split("\n")
    mean, std = normalization(params.arch)
    dls = dataloaders(params, prepared, labels, mean, std)
    if len(dls.train_ds) < params.batch_size:  # fastai drops the last partial batch: no step, a NaN loss
        raise UserError(
            f"train.batch_size={params.batch_size} is more than the {len(dls.train_ds)} training images "
            f"in {prepared / 'manifest.csv'}: set train.batch_size to at most {len(dls.train_ds)}"
        )
    return learner(params, dls), labels, mean, std


def _fit(params: TrainParams, learn) -> None:
    with ddp.training(learn):  # DDP in a process of a multi-process run
        if params.pretrained:
            learn.fine_tune(params.epochs, params.base_lr, freeze_epochs=params.freeze_epochs)
        else:  # nothing to keep frozen: train the whole network from scratch
            learn.fit_one_cycle(params.epochs, params.base_lr)


def train(params: TrainParams, prepared: Path, out: Path, history: Path) -> tuple[ModelSpec, dict]:
    learn, labels, mean, std = _learner(params, prepared)
    with outputs.atomic_file(history) as history_tmp:
        history_tmp.write_text(",".join(HISTORY_COLUMNS) + "\n")
        learn.add_cb(_epoch_logger(history_tmp))
        _fit(params, learn)
        final = pd.read_csv(history_tmp).iloc[-1]
        if not all(math.isfinite(final[column]) for column in ("train_loss", "valid_loss")):
            raise UserError(
                f"training diverged (train loss {final['train_loss']}, valid loss {final['valid_loss']} "
                f"after epoch {int(final['epoch'])}): lower train.base_lr (now {params.base_lr})"
            )
    spec = ModelSpec(params.arch, labels, params.image_size, tuple(mean), tuple(std))
    save_weights(learn.model, out / paths.WEIGHTS.name)
    spec.save(out / paths.MODEL_SPEC.name)
    return spec, {"valid_accuracy": float(final["accuracy"]), "valid_loss": float(final["valid_loss"])}


def train_share(params: TrainParams, prepared: Path) -> None:
    """A rank other than 0 of a multi-process run: trains on its share of every batch, writes nothing."""
    _fit(params, _learner(params, prepared)[0])


def run(params: Params) -> None:
    outputs.raise_missing(paths.MANIFEST, "prepare")
    if ddp.should_launch(params.train):
        try:
            launch.launch(params, run)  # its processes run this function: rank 0 the rest of it
        finally:  # what a process that was killed left (they have all ended here)
            outputs.remove_stale_temps(paths.OUTPUTS["train"])
        return
    if not ddp.is_main():
        train_share(params.train, paths.PREPARED)
        return
    import mlflow

    with mlflow_runs.new_run(params.mlflow.experiment, run_name=f"{params.train.arch}") as mlflow_run:
        mlflow_runs.log_params(params, "train", "data.source", "data.competition", "mlflow.experiment")
        data_report = outputs.read_json(paths.DATA_REPORT, "prepare")
        mlflow.log_metrics({f"data.{k}": v for k, v in data_report.items() if isinstance(v, int | float)})
        mlflow.log_artifact(str(paths.DATA_REPORT), "reports")
        with outputs.atomic_dir(paths.TRAINED) as staging:
            spec, metrics = train(params.train, paths.PREPARED, staging, paths.TRAIN_HISTORY)
            outputs.write_json(
                staging / paths.RUN_INFO.name,
                {"run_id": mlflow_run.info.run_id, "experiment": params.mlflow.experiment},
            )
        mlflow.log_artifact(str(paths.TRAIN_HISTORY), "reports")
        mlflow.log_artifact(str(paths.MODEL_SPEC), "model")
        outputs.write_json(paths.TRAIN_METRICS, metrics)
        print(
            f"Trained {spec.arch}: valid accuracy {metrics['valid_accuracy']:.3f} "
            f"(MLflow run {mlflow_run.info.run_id})"
        )
