"""The network as the edge converters take it: every layer in the Core ATen opset that ExecuTorch's and
LiteRT's lowerings know, the eval-mode BatchNorm1d layers of fastai's head folded into the Linear after
them. executorch, executorch_int8 and tflite export this copy, never the trained network itself."""

from __future__ import annotations

import copy
from itertools import takewhile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def fold_batchnorms_into_linears(network: torch.nn.Module) -> None:
    """fastai's head runs BatchNorm1d -> Dropout -> Linear: in eval mode the BatchNorm is an affine map
    that the Linear absorbs (W·(s·x + t) = (W·s)·x + W·t), the same answers to rounding. Without a
    BatchNorm in the graph, convert_pt2e skips its QAT conv-BN folding, which exports 96 pattern graphs
    (about 15 s of executorch_int8's build on a quiet 2-core machine, 30 s on a busy one)."""
    import torch

    no_op = torch.nn.Dropout | torch.nn.Identity  # in eval mode
    for parent in network.modules():
        if not isinstance(parent, torch.nn.Sequential):
            continue
        children = list(parent.named_children())
        for index, (name, norm) in enumerate(children):
            if not isinstance(norm, torch.nn.BatchNorm1d) or not norm.track_running_stats:
                continue
            rest = children[index + 1 :]
            skipped = len(list(takewhile(lambda child: isinstance(child[1], no_op), rest)))
            if skipped == len(rest) or not isinstance(rest[skipped][1], torch.nn.Linear):
                continue
            linear_name, linear = rest[skipped]
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            shift = norm.bias - norm.running_mean * scale
            folded = torch.nn.Linear(linear.in_features, linear.out_features, bias=True)
            with torch.no_grad():
                folded.weight.copy_(linear.weight * scale)
                bias = linear.weight @ shift
                folded.bias.copy_(bias if linear.bias is None else bias + linear.bias)
            setattr(parent, name, torch.nn.Identity())
            setattr(parent, linear_name, folded)


def exportable(network: torch.nn.Module, fold_batchnorms: bool = True) -> torch.nn.Module:
    """A copy whose layers are all in the Core ATen opset that ExecuTorch lowers: fastai's head pools
    with AdaptiveConcatPool2d(1), whose adaptive max pool is not; a global max and mean are the same.
    Its BatchNorm1d layers are folded into the Linear after them, except for quantization-aware
    training (formats.qat keeps the trained statistics frozen in the graph itself)."""
    import torch
    from fastai.layers import AdaptiveConcatPool2d

    class GlobalConcatPool(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x.amax((2, 3), keepdim=True), x.mean((2, 3), keepdim=True)], 1)

    network = copy.deepcopy(network).eval()
    for module in list(network.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, AdaptiveConcatPool2d) and child.size in (1, (1, 1)):
                setattr(module, name, GlobalConcatPool())
    if fold_batchnorms:
        fold_batchnorms_into_linears(network)
    return network
