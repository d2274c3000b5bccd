"""Every model format the pipeline makes, in one registry: export, evaluate, bench and gate all read it,
and adding a format is one entry in a family module's FORMATS (plus its test). The order below is the
order of every table: eager, the lite model (pytorch_lite's), then the edge formats (TFLite's last, opt-in);
the phone runs the ExecuTorch program."""

from paddy_edge.formats import (
    executorch_formats,
    onnx_formats,
    openvino_format,
    tflite_formats,
    torch_formats,
)
from paddy_edge.formats.registry import REGISTRY, ExportSpec, Format, Runner, register, runner

for _family in (torch_formats, onnx_formats, openvino_format, executorch_formats, tflite_formats):
    for _fmt in _family.FORMATS:
        register(_fmt)

PHONE_FORMAT = next(name for name, fmt in REGISTRY.items() if fmt.phone)
EXPORTED_FORMATS = tuple(name for name, fmt in REGISTRY.items() if fmt.write is not None)
# With params export.phone_int8 (off by default), the phone runs the phone format's int8 twin instead.
PHONE_INT8_FORMAT = next(name for name, fmt in REGISTRY.items() if fmt.twin == PHONE_FORMAT)


def phone_format(int8: bool) -> str:
    return PHONE_INT8_FORMAT if int8 else PHONE_FORMAT


def phone_of(card: dict) -> str:
    """The format of the program the card puts on the phone (its `phone` section; else the phone format)."""
    phone = card.get("phone")
    name = phone.get("format") if isinstance(phone, dict) else None
    return name if name in (PHONE_FORMAT, PHONE_INT8_FORMAT) else PHONE_FORMAT


def built_formats(card: dict) -> list[str]:
    """eager (train's), the phone's program, then every other format the card says export built, in the
    registry's order: the rotation times the phone's program right next to eager (rotation.py)."""
    built = card.get("formats", {PHONE_FORMAT: {}})
    phone = phone_of(card)
    return [
        "eager",
        *(fmt for fmt in REGISTRY if fmt in built and fmt == phone),
        *(fmt for fmt in REGISTRY if fmt in built and fmt != phone),
    ]


__all__ = [
    "EXPORTED_FORMATS",
    "PHONE_FORMAT",
    "PHONE_INT8_FORMAT",
    "REGISTRY",
    "ExportSpec",
    "Format",
    "Runner",
    "built_formats",
    "phone_format",
    "phone_of",
    "register",
    "runner",
]
