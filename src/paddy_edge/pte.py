"""What an ExecuTorch program file must look like before the runtime opens it.

The runtime's loader is C++ behind pybind11: bytes that are not a program can end the whole process with
SIGABRT ("terminate called after throwing an instance of 'pybind11::error_already_set'") instead of
raising, so a damaged file is refused here first. A .pte is a flatbuffer whose file identifier (bytes 4
to 8) is "ET" and two digits, followed by ExecuTorch's extended header ("eh" and two digits, its length,
then the program's size and where its segments start), which must fit in the file.

Standard library only: device_check imports it too."""

from __future__ import annotations

import re
import struct
from pathlib import Path

IDENTIFIER = re.compile(rb"ET\d\d")
EXTENDED_HEADER = re.compile(rb"eh\d\d")


def problem(file: Path) -> str:
    """Why `file` is not an ExecuTorch program ('' when its headers hold)."""
    size = file.stat().st_size
    with file.open("rb") as handle:
        head = handle.read(32)
    if len(head) < 8 or not IDENTIFIER.fullmatch(head[4:8]):
        return "not an ExecuTorch program: no ETnn flatbuffer identifier at bytes 4-8"
    if len(head) >= 32 and EXTENDED_HEADER.fullmatch(head[8:12]):
        length, program_size, segment_base = struct.unpack_from("<IQQ", head, 12)
        if length < 24 or program_size > size or (segment_base and segment_base > size):
            needed = max(program_size, segment_base)
            return f"truncated or damaged: its header names {needed} bytes, the file has {size}"
    return ""
