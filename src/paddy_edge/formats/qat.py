"""PT2E quantization-aware training for executorch_int8 (params `export.qat_epochs` > 0): the network is
exported with a dynamic batch, fake-quantized by the XNNPACK quantizer's QAT config, and fine-tuned on
the training photos, preprocessed as the app does, before it is converted to int8. Post-training
quantization only measures ranges; QAT lets the weights adapt to the rounding they will get."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from paddy_edge.errors import UserError

if TYPE_CHECKING:
    import torch

LabelledBatches = Callable[[int], Iterable[tuple[np.ndarray, np.ndarray]]]  # epoch -> (photos, targets)


@dataclass(frozen=True)
class QatSpec:
    epochs: int
    lr: float
    batches: LabelledBatches  # one epoch of shuffled training batches (train split, app preprocessing)


def fine_tune(network: torch.nn.Module, quantizer: Any, qat: QatSpec, image_size: int) -> tuple[Any, dict]:
    """The fake-quantized network after `qat.epochs` of AdamW on cross-entropy, in eval mode and ready
    for convert_pt2e; and the facts for the model card (epochs, photos seen, mean loss per epoch)."""
    import torch
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    batch = torch.export.Dim("batch", min=1, max=4096)
    example = (torch.rand(2, 3, image_size, image_size),)
    graph = torch.export.export(network.train(), example, dynamic_shapes=({0: batch},)).module()
    prepared = prepare_qat_pt2e(graph, quantizer)
    # A short fine-tune on unaugmented photos: BatchNorm keeps the statistics training gave it and
    # dropout stays off. In train mode both drifted: on the smoke model, agreement with eager fell from
    # post-training quantization's 0.95 to 0.84; frozen, QAT kept 0.93 and raised accuracy 0.79 -> 0.83.
    move_exported_model_to_eval(prepared)
    optimizer = torch.optim.AdamW(prepared.parameters(), lr=qat.lr, weight_decay=0.0)
    losses, seen = [], 0
    for epoch in range(qat.epochs):
        total, count = 0.0, 0
        for photos, targets in qat.batches(epoch):
            loss = torch.nn.functional.cross_entropy(
                prepared(torch.from_numpy(photos)), torch.from_numpy(targets).long()
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()) * len(photos), count + len(photos)
        if not count:
            raise UserError("quantization-aware training found no readable training photo: run dvc repro")
        losses.append(round(total / count, 6))
        seen += count
    return prepared, {"qat": {"epochs": qat.epochs, "lr": qat.lr, "photos_seen": seen, "loss": losses}}
