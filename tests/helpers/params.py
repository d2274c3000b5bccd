"""params.yaml for a test: written from the repository's with an overlay, or changed in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from paddy_edge.config import deep_merge, read_yaml

from . import ROOT


def write_params(folder: Path, overlay: dict[str, Any] | None = None, base: Path | None = None) -> Path:
    """params.yaml in `folder`: `base` (default the repository's) with an overlay, section by section."""
    merged = deep_merge(read_yaml(base or ROOT / "params.yaml"), overlay or {})
    target = folder / "params.yaml"
    target.write_text(yaml.safe_dump(merged, sort_keys=False))
    return target


def set_params(workspace: Path, **sections: dict[str, Any]) -> Path:
    """Change the workspace's own params.yaml in place: `set_params(ws, train={"epochs": 2})` sets
    train.epochs and leaves every other key as it was."""
    return write_params(workspace, sections, base=workspace / "params.yaml")
