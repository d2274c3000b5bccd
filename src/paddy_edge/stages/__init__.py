"""The pipeline's stages, in the order dvc.yaml runs them: the story of the data. Each is one module with
a plain function that does the work and `run(params)`, the entry point of `python -m paddy_edge <stage>`
(dvc.yaml's commands). The CLI and the pipeline tests are built from STAGES."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from paddy_edge import paths
from paddy_edge.runtime import outputs

if TYPE_CHECKING:
    from paddy_edge.config import Params


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str  # the command's help
    # train builds params' train.arch; later stages load the network model_spec.json names. check-params
    # (dvc.yaml's first stage) checks the name for them: importing timm to check it costs each ~3 s.
    reads_arch: bool = False

    def run(self, params: Params) -> None:
        """Run the stage holding its lock, after removing what a killed run of it left behind."""
        with outputs.stage_lock(self.name):
            removed = outputs.remove_stale_temps(paths.OUTPUTS[self.name])
            if removed:
                print(f"Removed {len(removed)} temporary output(s) of an interrupted {self.name} run")
            # Imported when run: `paddy-edge --help` and the fetch stage need not load torch.
            import_module(f"{__name__}.{self.name}").run(params)


STAGES = (
    Stage("fetch", "Get the competition zip (Kaggle, a local zip, or generated samples) into data/raw."),
    Stage("prepare", "Check and resize the images, split train/valid, write labels.txt and the data report."),
    Stage(
        "train",
        "Fine-tune the timm model with fastai; start the MLflow run the later stages log into.",
        reads_arch=True,
    ),
    Stage(
        "export", "Write every registered format (model.pte for the phone, ONNX, ...), labels and the card."
    ),
    Stage("evaluate", "Accuracy and parity of every format on photos preprocessed as the app does."),
    Stage("bench", "Batch-1 latency of every format with pytest-benchmark, plus file sizes."),
    Stage("gate", "Hold accuracy, parity, latency and size to params `gates:`; register a passing model."),
)
