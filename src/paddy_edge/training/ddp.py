"""Training in more than one process (params `train.processes` > 1): what each process needs.

The train stage that dvc started launches the processes (distributed_launch.py). Each runs the train
stage's code again, inside fastai's `distrib_ctx` (DDP through Hugging Face Accelerate): gloo on the CPU,
NCCL with one process per GPU. Each process takes an equal share of every batch of train.batch_size, so
the steps, the learning rate and the metrics mean what they mean in one process. Rank 0 alone opens the
MLflow run and writes the outputs, through the same atomic writes as one process; the other ranks write
nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from paddy_edge.config import TrainParams

if TYPE_CHECKING:
    import torch

WORKER_ENV = "PADDY_EDGE_TRAIN_WORKER"  # set for the processes that launch() starts
PARAMS_ENV = "PADDY_EDGE_TRAIN_PARAMS"  # the validated params, as JSON


def is_worker() -> bool:
    return WORKER_ENV in os.environ


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1")) if is_worker() else 1


def is_main() -> bool:
    """Whether this process writes the outputs: rank 0, or the only process."""
    return not is_worker() or os.environ.get("RANK", "0") == "0"


def should_launch(params: TrainParams) -> bool:
    return params.processes > 1 and not is_worker()


def batch_share(params: TrainParams) -> int:
    """Each process's share of every batch (config.py holds batch_size to a multiple of processes)."""
    return params.batch_size // world_size()


def device() -> torch.device:
    import torch

    if not torch.cuda.is_available():
        return torch.device("cpu")
    if is_worker():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cuda")


def _broadcast_on_cpu(self: Any, t: list[int], rank: int) -> list[int]:
    """fastai's DistributedDL._broadcast without its move to CUDA (NCCL's need): gloo takes CPU tensors."""
    import torch

    tensor = torch.tensor(t, dtype=torch.long)
    torch.distributed.broadcast(tensor, rank)
    return tensor.tolist()


@contextmanager
def training(learn: Any) -> Iterator[None]:
    """Fit inside this: DDP in a process that launch() started, nothing otherwise."""
    if not is_worker():
        yield
        return
    import torch
    from accelerate.utils import DistributedDataParallelKwargs
    from fastai.distributed import DistributedDL

    cuda = torch.cuda.is_available()
    broadcast = DistributedDL._broadcast
    if not cuda:
        DistributedDL._broadcast = _broadcast_on_cpu
    # fastai runs a timm model's forward_features: the model's own head (edgenext's final norm) gets no
    # gradient, which DDP refuses unless told to look for such parameters.
    unused = DistributedDataParallelKwargs(find_unused_parameters=True)
    try:
        # SyncBatchNorm runs on GPUs only; on the CPU each process normalizes its share of the batch.
        with learn.distrib_ctx(sync_bn=cuda, cpu=not cuda, kwargs_handlers=[unused]):
            yield
    finally:
        DistributedDL._broadcast = broadcast
