"""Every model format the pipeline makes, in one registry: export, evaluate, bench and gate all read it,
and adding a format is one entry in a family module's FORMATS (plus its test). The order below is the
order of every table: eager, the phone's lite model, then the edge formats."""

from paddy_edge.formats import executorch_formats, onnx_formats, openvino_format, torch_formats
from paddy_edge.formats.registry import REGISTRY, ExportSpec, Format, Runner, register, runner

for _family in (torch_formats, onnx_formats, openvino_format, executorch_formats):
    for _fmt in _family.FORMATS:
        register(_fmt)

PHONE_FORMAT = next(name for name, fmt in REGISTRY.items() if fmt.phone)
EXPORTED_FORMATS = tuple(name for name, fmt in REGISTRY.items() if fmt.write is not None)


def built_formats(card: dict) -> list[str]:
    """eager (train's), then every format the card says export built, in the registry's order."""
    built = card.get("formats", {PHONE_FORMAT: {}})
    return ["eager", *(fmt for fmt in REGISTRY if fmt in built)]


__all__ = [
    "EXPORTED_FORMATS",
    "PHONE_FORMAT",
    "REGISTRY",
    "ExportSpec",
    "Format",
    "Runner",
    "built_formats",
    "register",
    "runner",
]
