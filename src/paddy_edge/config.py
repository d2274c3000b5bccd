"""The typed view of params.yaml: every stage validates the whole file before it does any work."""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from paddy_edge.errors import UserError

# Strict ints and bools: `processes: true` or `epochs: "3"` is a mistake, not 1 or 3. Floats stay lax:
# YAML reads `1e-4` (no dot) as a string, and that one means 0.0001.
PositiveInt = Annotated[int, Field(gt=0, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, strict=True)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SampleParams(Section):
    images_per_class: Annotated[int, Field(ge=5, strict=True)]
    test_images: NonNegativeInt
    width: Annotated[int, Field(ge=32, strict=True)]
    height: Annotated[int, Field(ge=32, strict=True)]
    seed: StrictInt


class DataParams(Section):
    source: Literal["kaggle", "zip", "sample"]
    competition: str
    zip_path: str | None = None
    # How far the zip may expand (the competition's is about 1 GB, photos that barely compress):
    # a zip bomb stops here instead of filling the disk. Raise them for a bigger dataset.
    max_unzipped_mb: Annotated[float, Field(gt=0)] = 5000.0
    max_zip_ratio: Annotated[float, Field(gt=1)] = 50.0
    sample: SampleParams

    @model_validator(mode="after")
    def _zip_source_needs_a_path(self) -> DataParams:
        if self.source == "zip" and not self.zip_path:
            raise ValueError("data.source is 'zip' but data.zip_path is empty: set it to the downloaded zip")
        return self


class PrepareParams(Section):
    valid_pct: Fraction
    seed: StrictInt
    max_side: Annotated[int, Field(ge=32, strict=True)]
    min_side: PositiveInt
    max_skipped_pct: Annotated[float, Field(ge=0, le=100)]
    workers: PositiveInt
    # A label folder or train.csv label outside the competition's 10 fails prepare (the app and the model
    # card would disagree with the competition) unless this is true: then it is a warning.
    allow_new_labels: StrictBool = False


class TrainParams(Section):
    arch: str
    pretrained: StrictBool
    epochs: PositiveInt
    freeze_epochs: NonNegativeInt
    base_lr: Annotated[float, Field(gt=0, lt=1)]
    batch_size: PositiveInt
    image_size: Annotated[int, Field(ge=32, le=1024, strict=True)]
    augment: StrictBool
    seed: StrictInt
    num_workers: NonNegativeInt
    # Processes that train together (DDP; one per GPU on CUDA), each on its share of every batch.
    processes: PositiveInt = 1

    @model_validator(mode="after")
    def _batches_split_evenly(self) -> TrainParams:
        if self.batch_size % self.processes:
            raise ValueError(
                f"batch_size {self.batch_size} does not split evenly over processes {self.processes}: each "
                "process takes an equal share of every batch; make batch_size a multiple of processes"
            )
        return self


SERVED_FORMAT = "onnx"  # the registered MLflow Model runs it (serving/pyfunc.py)


def _registry():
    """The format registry: the names export can build, their sources and the phone's. Imported when a
    params file is checked (it loads no runtime: each format imports its own when it runs), so a new
    format's entry in its family module is all params needs. Only check-params' dvc deps list it: which
    formats exist changes no other stage's output, and that stage checks params.yaml on any change."""
    from paddy_edge import formats

    return formats


def _known(names: list[str] | dict[str, Any]) -> None:
    exportable = _registry().EXPORTED_FORMATS
    for name in names:
        if name not in exportable:
            close = difflib.get_close_matches(str(name), exportable, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{name!r} is no format export builds{hint}: one of {', '.join(exportable)}")


class ExportParams(Section):
    onnx_opset: Annotated[int, Field(ge=13, le=21, strict=True)]
    formats: Annotated[list[str], Field(min_length=1)]
    calibration_images: Annotated[int, Field(ge=1, le=5000, strict=True)]
    qat_epochs: Annotated[int, Field(ge=0, le=50, strict=True)]
    qat_lr: Annotated[float, Field(gt=0, le=1)]
    # The app runs the int8 ExecuTorch program instead of the fp32 one: off until a device shows that
    # the plugin's prebuilt runtime has its quantized kernels (docs/app.md).
    phone_int8: StrictBool = False

    @model_validator(mode="after")
    def _qat_needs_its_format(self) -> ExportParams:
        if self.phone_int8 and _registry().PHONE_INT8_FORMAT not in self.formats:
            int8 = _registry().PHONE_INT8_FORMAT
            raise ValueError(f"phone_int8 puts {int8} on the phone: list {int8} in export.formats")
        if self.qat_epochs and "executorch_int8" not in self.formats:
            raise ValueError(
                "qat_epochs fine-tunes executorch_int8: list executorch_int8 in export.formats, or set "
                "qat_epochs: 0"
            )
        return self

    @field_validator("formats")
    @classmethod
    def _buildable(cls, formats: list[str]) -> list[str]:
        if len(set(formats)) != len(formats):
            raise ValueError("a format is listed twice")
        _known(formats)
        registry = _registry()
        if registry.PHONE_FORMAT not in formats:
            raise ValueError(f"must include {registry.PHONE_FORMAT}: it is the model the app ships")
        if SERVED_FORMAT not in formats:
            raise ValueError(
                f"must include {SERVED_FORMAT}: the registered MLflow Model (make serve, make demo) runs it"
            )
        for fmt in formats:
            source = registry.REGISTRY[fmt].source
            if source is not None and source not in formats:
                raise ValueError(f"{fmt} is converted from {source}: list {source} too")
        return formats


class EvaluateParams(Section):
    batch_size: PositiveInt
    resample: Literal["nearest", "bilinear", "bicubic"]


class BenchParams(Section):
    passes: PositiveInt  # rotations: in each, every format is timed once, eager next to the phone format
    rounds: PositiveInt  # timed runs per format and pass
    warmup_rounds: NonNegativeInt
    threads: PositiveInt


class FormatGate(Section):
    """One format's own thresholds (params `gates.formats.<name>`): an int8 format is allowed what its
    quantization costs, and held to its size; unset keys fall back to the global gates."""

    max_accuracy_drop: Annotated[float, Field(ge=0, le=1)] | None = None
    min_agreement: Annotated[float, Field(ge=0, le=1)] | None = None
    max_size_mb: Annotated[float, Field(gt=0)] | None = None


class GateParams(Section):
    min_accuracy: Annotated[float, Field(ge=0, le=1)]
    max_accuracy_drop: Annotated[float, Field(ge=0, le=1)]
    min_agreement: Annotated[float, Field(ge=0, le=1)]
    # Latency on a shared CI runner moves 2-3x with the neighbours: the ratio, measured in one run,
    # is the gate that holds there; the absolute one is for a dedicated machine (null = off).
    max_latency_ratio: Annotated[float, Field(gt=0)] | None
    max_latency_ms: Annotated[float, Field(gt=0)] | None
    max_model_mb: Annotated[float, Field(gt=0)]
    formats: dict[str, FormatGate] = Field(default_factory=dict)

    @field_validator("formats")
    @classmethod
    def _gated_formats_exist(cls, formats: dict[str, FormatGate]) -> dict[str, FormatGate]:
        _known(formats)
        return formats


class MlflowParams(Section):
    experiment: Annotated[str, Field(min_length=1)]
    registered_model: Annotated[str, Field(min_length=1)]

    @field_validator("registered_model")
    @classmethod
    def _valid_model_name(cls, name: str) -> str:
        # MLflow's rule (mlflow.utils.validation._validate_model_name), checked here before any training
        # rather than at the gate, after it.
        if name != name.strip() or name in {".", ".."} or any(c in name for c in "/:"):
            raise ValueError(
                f"'{name}' cannot be an MLflow registered model name: "
                "no '/' or ':', not '.' or '..', no surrounding spaces"
            )
        return name


class Params(Section):
    data: DataParams
    prepare: PrepareParams
    train: TrainParams
    export: ExportParams
    evaluate: EvaluateParams
    bench: BenchParams
    gates: GateParams
    mlflow: MlflowParams


@cache
def timm_model_names() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models())


def _describe(error: ValidationError, path: Path) -> str:
    lines = [f"{path} is not valid:"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key (check the spelling against params.yaml)"
        elif problem["type"] == "missing":
            message = "missing key"
        elif problem["type"].endswith("_type"):  # strict: say what YAML read (`true`, `"3"`, `1e-4` unquoted)
            message += f" (got {problem['input']!r})"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found: run from the repository root, or pass --params") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise UserError(f"{path} must hold a mapping of sections (data, prepare, train, ...)")
    return loaded


def _unknown_arch(arch: str) -> str | None:
    known = timm_model_names()
    if arch in known:
        return None
    close = difflib.get_close_matches(arch, known, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else " See timm.list_models()."
    return f"'{arch}' is not a timm model.{hint}"


def parse_params(
    raw: dict[str, Any], source: Path = Path("params.yaml"), *, check_arch: bool = True
) -> Params:
    """Validate every key. `check_arch=False` leaves out only the one check that imports timm (and
    torch: about 3 s and 1 GB): for params already checked, e.g. the smoke workspace's unchanged copy."""
    try:
        params = Params.model_validate(raw)
    except ValidationError as exc:
        raise UserError(_describe(exc, source)) from None
    if not check_arch:
        return params
    # Checked here, not in a pydantic validator: importing timm (and torch) inside pydantic-core's Rust
    # frames turned a Ctrl-C at that moment into "Rust cannot catch foreign exceptions" and an abort.
    problem = _unknown_arch(params.train.arch)
    if problem:
        raise UserError(f"{source} is not valid:\n  train.arch: {problem}")
    return params


def load_params(path: Path = Path("params.yaml"), *, check_arch: bool = True) -> Params:
    return parse_params(read_yaml(path), path, check_arch=check_arch)


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Overlay one params mapping on another, section by section (how profiles apply)."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"arch": "x"}} -> {"train.arch": "x"}: how params and metrics are named in MLflow."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
