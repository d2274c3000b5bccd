"""16 KB page alignment of an APK's native libraries, from their ELF program headers (every PT_LOAD
segment aligned to at least 16 KB) and the zip offset of libraries stored uncompressed. Google Play
requires it on 64-bit ABIs for apps targeting Android 15+, and a 4 KB-aligned library fails to load on a
16 KB-page device: the APK check fails such an APK. Standard library only (paddy_edge.app.apk_check)."""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from paddy_edge.errors import UserError

PAGE_16K = 16 * 1024

ELF_MACHINES = {3: "x86", 40: "ARM", 62: "x86-64", 183: "AArch64"}
ELF_64_BIT_MACHINES = {62, 183}
PT_LOAD = 1


@dataclass
class LibraryAlignment:
    path: str  # inside the APK
    machine: str
    bits: int
    min_load_align: int  # smallest p_align of the PT_LOAD segments
    zip_offset: int | None  # data offset when stored uncompressed (mmapped from the APK), else None

    @property
    def elf_aligned(self) -> bool:
        return self.min_load_align >= PAGE_16K

    @property
    def zip_aligned(self) -> bool:
        return self.zip_offset is None or self.zip_offset % PAGE_16K == 0

    @property
    def aligned(self) -> bool:
        return self.elf_aligned and self.zip_aligned

    @property
    def needs_16k(self) -> bool:
        """Only 64-bit ABIs (arm64-v8a, x86_64) run with 16 KB pages."""
        return self.bits == 64


def elf_load_alignment(data: bytes, name: str) -> tuple[str, int, int]:
    """(machine, 32 or 64, the smallest p_align of the PT_LOAD segments) from an ELF file's headers."""
    if data[:4] != b"\x7fELF" or len(data) < 52:
        raise UserError(f"{name} is not an ELF shared library")
    bits = {1: 32, 2: 64}.get(data[4])
    order = {1: "<", 2: ">"}.get(data[5])
    if bits is None or order is None:
        raise UserError(f"{name}: unknown ELF class or byte order")
    (machine,) = struct.unpack_from(order + "H", data, 18)
    # e_phoff, then e_phentsize and e_phnum: where the two ELF classes keep them
    if bits == 64:
        (phoff,) = struct.unpack_from(order + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 54)
    else:
        (phoff,) = struct.unpack_from(order + "I", data, 28)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 42)
    aligns = []
    for index in range(phnum):
        offset = phoff + index * phentsize
        if offset + phentsize > len(data):
            raise UserError(f"{name}: program header {index} lies outside the file")
        (p_type,) = struct.unpack_from(order + "I", data, offset)
        if p_type != PT_LOAD:
            continue
        p_align = (
            struct.unpack_from(order + "Q", data, offset + 48)[0]
            if bits == 64
            else struct.unpack_from(order + "I", data, offset + 28)[0]
        )
        aligns.append(p_align)
    if not aligns:
        raise UserError(f"{name} has no loadable (PT_LOAD) segment")
    return ELF_MACHINES.get(machine, f"machine {machine}"), bits, min(aligns)


def _data_offset(apk: Path, info: zipfile.ZipInfo) -> int:
    """Where an entry's bytes start in the APK: after its local header, name and extra field."""
    with apk.open("rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
    name_length, extra_length = struct.unpack_from("<HH", header, 26)
    return info.header_offset + 30 + name_length + extra_length


def library_alignments(apk: Path, archive: zipfile.ZipFile) -> list[LibraryAlignment]:
    libraries = []
    for info in archive.infolist():
        if not (info.filename.startswith("lib/") and info.filename.endswith(".so")):
            continue
        data = archive.read(info)
        machine, bits, align = elf_load_alignment(data, f"{apk.name}:{info.filename}")
        stored = info.compress_type == zipfile.ZIP_STORED
        libraries.append(
            LibraryAlignment(info.filename, machine, bits, align, _data_offset(apk, info) if stored else None)
        )
    return libraries


def alignment_report(libraries: list[LibraryAlignment]) -> list[str]:
    lines = [
        "| library | ELF | smallest LOAD p_align | zip offset | 16 KB pages |",
        "|---|---|---|---|---|",
    ]
    for lib in sorted(libraries, key=lambda item: item.path):
        if lib.aligned:
            verdict = "aligned"
        elif not lib.needs_16k:
            verdict = "not aligned (32-bit ABI: not required)"
        else:
            verdict = "**not aligned**: fails the check"
        offset = "compressed" if lib.zip_offset is None else f"{lib.zip_offset:#x}"
        lines.append(
            f"| `{lib.path}` | {lib.machine}, {lib.bits}-bit | {lib.min_load_align:#x} | {offset} "
            f"| {verdict} |"
        )
    misaligned = misaligned_libraries(libraries)
    lines.append("")
    if not misaligned:
        lines.append("Every 64-bit native library is 16 KB aligned: Google Play's requirement is met.")
    else:
        lines.append(
            f"{len(misaligned)} 64-bit librar{'y is' if len(misaligned) == 1 else 'ies are'} not 16 KB "
            "aligned (" + ", ".join(f"`{lib.path}`" for lib in misaligned) + "): it fails to load on a "
            "16 KB-page device, and Google Play refuses the app. Find which dependency brings it."
        )
    return lines


def misaligned_libraries(libraries: list[LibraryAlignment]) -> list[LibraryAlignment]:
    """The 64-bit libraries that a 16 KB-page device cannot map: each one fails the APK check."""
    return [lib for lib in libraries if lib.needs_16k and not lib.aligned]
