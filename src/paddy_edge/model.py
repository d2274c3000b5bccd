"""The network: a timm body with fastai's head (what vision_learner builds), saved without pickle."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from paddy_edge import paths
from paddy_edge.runtime import outputs

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    """What it takes to rebuild the trained network and feed it: saved beside the weights."""

    arch: str
    labels: list[str]
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> ModelSpec:
        raw = outputs.read_json(path, "train")
        return cls(raw["arch"], raw["labels"], raw["image_size"], tuple(raw["mean"]), tuple(raw["std"]))


def normalization(arch: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean/std the architecture's pretrained weights expect (ImageNet's for most timm models)."""
    import timm

    try:
        config = timm.get_pretrained_cfg(arch)
    except Exception:
        config = None
    mean = tuple(getattr(config, "mean", None) or IMAGENET_MEAN)
    std = tuple(getattr(config, "std", None) or IMAGENET_STD)
    return mean, std


def build_network(arch: str, n_classes: int, pretrained: bool = False) -> torch.nn.Module:
    from fastai.vision.learner import create_timm_model

    network, _ = create_timm_model(arch, n_classes, pretrained=pretrained)
    return network


def save_weights(network: torch.nn.Module, path: Path) -> None:
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in network.state_dict().items()}
    save_file(state, str(path))


def load_trained(
    weights: Path = paths.WEIGHTS, spec_path: Path = paths.MODEL_SPEC
) -> tuple[torch.nn.Module, ModelSpec]:
    """The trained network in eval mode on the CPU, and its spec."""
    outputs.raise_missing(weights, "train")
    spec = ModelSpec.load(spec_path)
    network = build_network(spec.arch, len(spec.labels))
    network.load_state_dict(load_file(str(weights)), strict=True)
    return network.eval(), spec
