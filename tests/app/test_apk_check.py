"""The flutter job's APK check, on real inputs: manifest dumps written by the real aapt and aapt2 from
binary manifests aapt2 compiled (fixtures/manifests, rebuilt by make_dumps.sh), ELF headers of real
shared libraries compared with readelf, and APKs built here as the zips they are, with the app's
committed model files and ELF libraries laid out as AGP stores them."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from paddy_edge.app import apk_check, page_alignment
from paddy_edge.app.app_assets import APP_ASSETS
from paddy_edge.errors import UserError

from ..helpers import ROOT

APP = ROOT / "flutter_app"
MANIFESTS = Path(__file__).parent / "fixtures/manifests"
DUMPS = sorted(MANIFESTS.glob("*.txt"))


def _dump(name: str, tool: str) -> Path:
    return MANIFESTS / f"{name}.{tool}.txt"


# --- manifest dumps ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["aapt2", "aapt"])
def test_both_dump_formats_read_the_same(tool: str) -> None:
    manifest = apk_check.parse_manifest_dump(_dump("merged_fixed", tool).read_text())
    assert manifest.package == "org.paddyedge.classifier"
    assert manifest.min_sdk == 24
    assert manifest.permissions == [
        "android.permission.CAMERA",
        "org.paddyedge.classifier.DYNAMIC_RECEIVER_NOT_EXPORTED_PERMISSION",
    ]
    features = {f.attributes["name"]: f.attributes.get("required") for f in manifest.all("uses-feature")}
    assert features == {
        "android.hardware.camera.any": "false",
        "android.hardware.camera": "false",
        "android.hardware.camera.autofocus": "false",
    }
    label = manifest.all("application")[0].attributes["label"]
    assert label == "Paddy Doctor: a:b=c", "a value with : and = stays one value"


@pytest.mark.parametrize("tool", ["aapt2", "aapt"])
def test_the_fixed_merge_passes(tool: str) -> None:
    assert (
        apk_check.manifest_problems(apk_check.parse_manifest_dump(_dump("merged_fixed", tool).read_text()))
        == []
    )


@pytest.mark.parametrize("tool", ["aapt2", "aapt"])
def test_what_camerax_merges_in_is_caught_with_what_to_do(tool: str) -> None:
    problems = apk_check.manifest_problems(
        apk_check.parse_manifest_dump(_dump("merged_unfixed", tool).read_text())
    )
    text = "\n".join(problems)
    assert len(problems) == 5, text
    for permission in ("RECORD_AUDIO", "WRITE_EXTERNAL_STORAGE"):
        assert f'android.permission.{permission}" tools:node="remove"' in text
    assert "ACCESS_NETWORK_STATE, which the app does not use" in text
    assert "requires android.hardware.camera.any" in text and 'tools:replace="android:required"' in text
    assert "minSdkVersion is 21, README says API 24" in text


def test_a_file_that_is_not_a_dump_is_refused_by_name(tmp_path: Path) -> None:
    bogus = tmp_path / "manifest.txt"
    bogus.write_text("ERROR: dump failed: no such file\n")
    with pytest.raises(UserError, match=r"manifest\.txt is not `aapt2 dump xmltree"):
        apk_check.check([tmp_path / "x.apk"], bogus, APP)


def test_the_app_manifest_asks_for_nothing_the_check_forbids() -> None:
    """The source side of the same rule: the app's own manifest asks for no forbidden permission (a
    plugin that merges one in is caught in the merged manifest above)."""
    import xml.etree.ElementTree as ET

    tools = "{http://schemas.android.com/tools}"
    android = "{http://schemas.android.com/apk/res/android}"
    root = ET.parse(APP / "android/app/src/main/AndroidManifest.xml").getroot()
    asked = {
        e.get(android + "name") for e in root.iter("uses-permission") if e.get(tools + "node") != "remove"
    }
    assert asked and not asked & set(apk_check.FORBIDDEN_PERMISSIONS)
    assert asked <= apk_check.ALLOWED_PERMISSIONS


# --- ELF headers ----------------------------------------------------------------------------------------


def _elf(bits: int, machine: int, aligns: list[int], big_endian: bool = False) -> bytes:
    """A minimal ELF shared object: header plus one program header per alignment (PT_LOAD) and a
    PT_DYNAMIC that must be ignored."""
    order = ">" if big_endian else "<"
    segments = [(1, a) for a in aligns] + [(2, 8)]
    wide = bits == 64
    word = "Q" if wide else "I"  # addresses and offsets: 8 bytes in ELF64, 4 in ELF32
    header_size, entry, section_entry = (64, 56, 64) if wide else (52, 32, 40)
    ident = (b"\x7fELF", 2 if wide else 1, 2 if big_endian else 1, 1, 0)
    header = struct.pack(
        f"{order}4sBBBB8xHHI{word * 3}IHHHHHH",
        *ident,
        *(3, machine, 1, 0, header_size, 0, 0, header_size, entry, len(segments), section_entry, 0, 0),
    )
    # ELF64 puts p_flags second; ELF32 puts it seventh.
    program = (
        (lambda t, a: struct.pack(f"{order}IIQQQQQQ", t, 5, 0, 0, 0, 0, 0, a))
        if wide
        else (lambda t, a: struct.pack(f"{order}IIIIIIII", t, 0, 0, 0, 0, 0, 5, a))
    )
    programs = b"".join(program(t, a) for t, a in segments)
    return header + programs


@pytest.mark.parametrize(
    ("bits", "machine", "name", "big_endian"),
    [(64, 183, "AArch64", False), (64, 62, "x86-64", True), (32, 40, "ARM", False), (32, 3, "x86", True)],
)
def test_the_smallest_load_alignment_is_read_from_generated_headers(
    bits: int, machine: int, name: str, big_endian: bool
) -> None:
    data = _elf(bits, machine, [0x4000, 0x1000, 0x10000], big_endian)
    assert page_alignment.elf_load_alignment(data, "lib.so") == (name, bits, 0x1000)


def _real_shared_libraries() -> list[Path]:
    """A few of this Python's own extension modules (lib-dynload): real ELF shared objects."""
    found = [so for entry in sys.path if entry.endswith("lib-dynload") for so in Path(entry).glob("*.so")]
    return sorted(found)[:5]


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs binutils' readelf")
def test_real_libraries_read_as_readelf_reads_them() -> None:
    libraries = _real_shared_libraries()
    assert libraries, "the Python build has extension modules"
    for library in libraries:
        listing = subprocess.run(["readelf", "-lW", str(library)], capture_output=True, text=True, check=True)
        aligns = [
            int(line.split()[-1], 16)
            for line in listing.stdout.splitlines()
            if line.strip().startswith("LOAD")
        ]
        _, bits, smallest = page_alignment.elf_load_alignment(library.read_bytes(), library.name)
        assert smallest == min(aligns), library
        assert bits == (64 if sys.maxsize > 2**32 else 32)


def test_what_is_not_an_elf_library_is_refused() -> None:
    with pytest.raises(UserError, match=r"lib/arm64-v8a/x\.so is not an ELF"):
        page_alignment.elf_load_alignment(
            b"not an elf file at all, long enough to be read" * 2, "lib/arm64-v8a/x.so"
        )


# --- whole APKs -----------------------------------------------------------------------------------------


def _write_stored_aligned(apk: zipfile.ZipFile, name: str, data: bytes, align: int) -> None:
    """Store `data` uncompressed with its bytes at a multiple of `align`, padding the local header's
    extra field as zipalign does (AGP stores native libraries like this for extractNativeLibs=false)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_STORED
    start = apk.fp.tell() + 30 + len(name.encode())
    padding = (-(start + 4)) % align
    info.extra = struct.pack("<HH", 0xD935, padding) + b"\0" * padding
    apk.writestr(info, data)


def _apk(
    path: Path, libs: dict[str, bytes], assets: bool = True, align: int = page_alignment.PAGE_16K
) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as apk:
        apk.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00binary xml")
        if assets:
            for target in APP_ASSETS.values():
                apk.write(APP / target, apk_check.APK_ASSET_PREFIX + target)
        for name, data in libs.items():
            _write_stored_aligned(apk, name, data, align)
    return path


ARM64_OK = _elf(64, 183, [0x4000, 0x4000])
ARM64_4K = _elf(64, 183, [0x1000, 0x1000])
ARM32_4K = _elf(32, 40, [0x1000])


def test_a_16k_aligned_apk_passes(tmp_path: Path) -> None:
    arm64 = _apk(
        tmp_path / "app-arm64-v8a-release.apk",
        {
            "lib/arm64-v8a/libflutter.so": ARM64_OK,
            "lib/arm64-v8a/libapp.so": ARM64_OK,
            "lib/arm64-v8a/libexecutorch.so": ARM64_OK,
        },
    )
    arm32 = _apk(tmp_path / "app-armeabi-v7a-release.apk", {"lib/armeabi-v7a/libold.so": ARM32_4K})
    report, problems, warnings = apk_check.check([arm32, arm64], _dump("merged_fixed", "aapt2"), APP)
    text = "\n".join(report)
    assert problems == [] and warnings == []
    assert text.index("app-arm64-v8a-release.apk") < text.index("app-armeabi-v7a-release.apk"), "arm64 first"
    assert f"{arm64.stat().st_size:,} bytes" in text
    assert "| `lib/arm64-v8a/libflutter.so` | AArch64, 64-bit | 0x4000 |" in text
    assert "32-bit ABI: not required" in text
    assert "Every 64-bit native library is 16 KB aligned" in text


def test_a_4k_aligned_library_fails_and_so_does_a_misaligned_zip_entry(tmp_path: Path) -> None:
    apk = _apk(tmp_path / "app-arm64-v8a-release.apk", {"lib/arm64-v8a/libold.so": ARM64_4K})
    report, problems, _ = apk_check.check([apk], _dump("merged_fixed", "aapt2"), APP)
    assert problems == [
        "lib/arm64-v8a/libold.so is not 16 KB aligned (smallest LOAD p_align 0x1000): a 16 KB-page device "
        "cannot load it and Google Play refuses the app"
    ]
    assert "**not aligned**: fails the check" in "\n".join(report)
    shifted = _apk(tmp_path / "app-x86_64-release.apk", {"lib/arm64-v8a/libother.so": ARM64_OK}, align=4096)
    libraries = page_alignment.library_alignments(shifted, zipfile.ZipFile(shifted))
    assert libraries[0].elf_aligned and not libraries[0].zip_aligned
    _, problems, _ = apk_check.check([shifted], _dump("merged_fixed", "aapt2"), APP)
    assert len(problems) == 1 and "zip offset" in problems[0]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build shared libraries")
def test_libraries_linked_here_with_4k_and_16k_pages_fail_and_pass(tmp_path: Path) -> None:
    """Real ELF files from the linker, not generated headers: -z max-page-size sets each LOAD's p_align,
    as the NDK's flag for 16 KB pages does."""
    source = tmp_path / "lib.c"
    source.write_text("int paddy(int x) { return 2 * x; }\n")
    built = {}
    for page in (0x1000, 0x4000):
        library = tmp_path / f"lib{page:x}.so"
        subprocess.run(
            ["gcc", "-shared", "-fPIC", f"-Wl,-z,max-page-size={page:#x}", "-o", str(library), str(source)],
            check=True,
        )
        built[page] = library.read_bytes()
    apk = _apk(
        tmp_path / "app-x86_64-release.apk",
        {"lib/x86_64/libsixteen.so": built[0x4000], "lib/x86_64/libfour.so": built[0x1000]},
    )
    _, problems, _ = apk_check.check([apk], _dump("merged_fixed", "aapt2"), APP)
    assert len(problems) == 1 and problems[0].startswith("lib/x86_64/libfour.so is not 16 KB aligned")


def test_an_apk_without_the_model_or_with_another_fails(tmp_path: Path) -> None:
    empty = _apk(tmp_path / "app-arm64-v8a-release.apk", {}, assets=False)
    _, problems, _ = apk_check.check([empty], _dump("merged_fixed", "aapt2"), APP)
    assert len(problems) == len(APP_ASSETS) and all("is missing" in p for p in problems)
    other_app = tmp_path / "flutter_app"
    shutil.copytree(APP / "assets", other_app / "assets")
    (other_app / APP_ASSETS["labels.txt"]).write_text("a\nb")
    full = _apk(tmp_path / "app-release.apk", {})
    _, problems, _ = apk_check.check([full], _dump("merged_fixed", "aapt2"), other_app)
    labels = APP_ASSETS["labels.txt"]
    assert problems == [
        f"app-release.apk: {apk_check.APK_ASSET_PREFIX}{labels} differs from {other_app / labels} (sha256)"
    ]


def test_the_command_fails_on_problems_and_appends_the_summary(tmp_path: Path) -> None:
    apk = _apk(tmp_path / "app-arm64-v8a-release.apk", {"lib/arm64-v8a/libexecutorch.so": ARM64_OK})
    summary = tmp_path / "summary.md"
    summary.write_text("before\n")
    command = [
        sys.executable,
        "-m",
        "paddy_edge.app.apk_check",
        str(apk),
        "--app",
        str(APP),
        "--summary",
        str(summary),
    ]
    env = {"PYTHONPATH": str(ROOT / "src"), "GITHUB_ACTIONS": "true"}
    good = subprocess.run(
        [*command, "--manifest-dump", str(_dump("merged_fixed", "aapt"))],
        capture_output=True,
        text=True,
        env=env,
    )
    assert good.returncode == 0, good.stderr
    assert summary.read_text().startswith("before\n## The built APK")
    bad = subprocess.run(
        [*command, "--manifest-dump", str(_dump("merged_unfixed", "aapt"))],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 1
    assert (
        "::error title=APK check::the merged manifest asks for android.permission.RECORD_AUDIO" in bad.stderr
    )
    missing = subprocess.run(
        [*command, "--manifest-dump", str(tmp_path / "none.txt")], capture_output=True, text=True, env=env
    )
    assert missing.returncode == 2 and "none.txt cannot be read" in missing.stderr


def test_the_check_runs_on_the_standard_library_alone() -> None:
    """The flutter job has no venv: importing the module must not pull in anything outside the stdlib."""
    code = (
        "import sys; import paddy_edge.app.apk_check; "
        "third = {m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names); "
        "third -= {'paddy_edge', '__main__'}; "
        "print(sorted(third))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
