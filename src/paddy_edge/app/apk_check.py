"""Checks of a built APK that only the built APK can answer, for the flutter CI job. Standard library
only (that job has no venv): `python3 -m paddy_edge.app.apk_check APK... --manifest-dump FILE --app DIR`.

- The merged manifest (every plugin's manifest folded into ours by Gradle), read from
  `aapt2 dump xmltree --file AndroidManifest.xml APK` (or `aapt dump xmltree APK AndroidManifest.xml`):
  only the permissions the app uses, no required camera, the SDK floor README states.
- The program (the gated .pte), its card and the labels are inside, byte for byte the app's files.
- Sizes, the arm64 APK first: the one most phones install (a warning above ARM64_TARGET_MB).
- 16 KB page alignment of every native library, from the ELF program headers (every PT_LOAD segment
  aligned to at least 16 KB) and the zip offset of libraries stored uncompressed: a 64-bit library that
  is not aligned fails the check. Google Play requires it for apps targeting Android 15+, and a 16 KB-page
  device cannot load such a library. (pytorch_lite's PyTorch Android 2.1.0 was 4 KB aligned.)

Exit status: 0 all checks passed, 1 a check failed (the output says which and what to do), 2 bad input."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from paddy_edge import paths
from paddy_edge.app.app_assets import APP_ASSETS
from paddy_edge.app.page_alignment import (
    LibraryAlignment,
    alignment_report,
    library_alignments,
    misaligned_libraries,
)
from paddy_edge.errors import UserError

APK_ASSET_PREFIX = "assets/flutter_assets/"
ARM64_TARGET_MB = 40  # the arm64 APK's size target (the seed's hand-built APK was about 77 MB)
EXPECTED_MIN_SDK = 24  # Flutter 3.35's flutter.minSdkVersion; README says Android 7.0 (API 24)+

ALLOWED_PERMISSIONS = {
    # image_picker asks for it at run time because it is declared (taking a photo).
    "android.permission.CAMERA",
}
# androidx.core declares and uses "<applicationId>.DYNAMIC_RECEIVER_NOT_EXPORTED_PERMISSION" (signature
# level, for its own non-exported broadcast receivers): harmless, and named after the package.
ALLOWED_PACKAGE_PERMISSION_SUFFIXES = (".DYNAMIC_RECEIVER_NOT_EXPORTED_PERMISSION",)
# What a camera or storage plugin would merge in (pytorch_lite's camera_android_camerax did); the app
# never uses them. INTERNET: the app runs offline.
FORBIDDEN_PERMISSIONS = {
    "android.permission.RECORD_AUDIO": "camera_android_camerax (video recording, unused here)",
    "android.permission.WRITE_EXTERNAL_STORAGE": "camera_android_camerax (saving videos, unused here)",
    "android.permission.READ_EXTERNAL_STORAGE": "not needed: image_picker uses the system photo picker",
    "android.permission.INTERNET": "not needed: the model runs on the phone, offline",
}
PERMISSION_ELEMENTS = {"uses-permission", "uses-permission-sdk-23", "uses-permission-sdk-m"}


# --- the merged manifest ----------------------------------------------------------------------------------


@dataclass
class Element:
    name: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Manifest:
    package: str
    elements: list[Element]

    def all(self, *names: str) -> list[Element]:
        return [e for e in self.elements if e.name in names]

    @property
    def permissions(self) -> list[str]:
        return [e.attributes.get("name", "") for e in self.all(*PERMISSION_ELEMENTS)]

    @property
    def min_sdk(self) -> int | None:
        sdk = self.all("uses-sdk")
        value = sdk[0].attributes.get("minSdkVersion") if sdk else None
        return int(value) if value is not None else None


_ELEMENT = re.compile(r"^\s*E: (\S+)")
# aapt2: `A: http://schemas.android.com/apk/res/android:name(0x01010003)="x" (Raw: "x")`, `...=false`, `=24`
# aapt:  `A: android:name(0x01010003)="x" (Raw: "x")`, `=(type 0x12)0x0`, `=(type 0x10)0x18`
_ATTRIBUTE = re.compile(
    r'^\s*A: (?:[^\s"=]*:)?([\w-]+)(?:\(0x[0-9a-f]+\))?='
    r'(?:"((?:[^"\\]|\\.)*)"|(\(type 0x[0-9a-f]+\)0x[0-9a-f]+|\S+))'
)
_AAPT_TYPED = re.compile(r"^\(type 0x([0-9a-f]+)\)0x([0-9a-f]+)$")


def _attribute_value(raw: str) -> str:
    """aapt's typed values as aapt2 prints them: booleans true/false, integers in decimal."""
    typed = _AAPT_TYPED.match(raw)
    if not typed:
        return raw
    kind, data = int(typed.group(1), 16), int(typed.group(2), 16)
    if kind == 0x12:  # TYPE_INT_BOOLEAN
        return "true" if data else "false"
    if kind in (0x10, 0x11):  # TYPE_INT_DEC, TYPE_INT_HEX
        return str(data)
    return raw


def parse_manifest_dump(text: str, source: str = "manifest dump") -> Manifest:
    """The elements and attributes of `aapt2 dump xmltree` or `aapt dump xmltree` output."""
    elements: list[Element] = []
    for line in text.splitlines():
        if match := _ELEMENT.match(line):
            elements.append(Element(match.group(1)))
        elif (match := _ATTRIBUTE.match(line)) and elements:
            quoted, bare = match.group(2), match.group(3)
            value = quoted if quoted is not None else _attribute_value(bare)
            elements[-1].attributes[match.group(1)] = value
    if not elements or elements[0].name != "manifest":
        raise UserError(
            f"{source} is not `aapt2 dump xmltree --file AndroidManifest.xml APK` output (no manifest "
            "element): run that command on the built APK and pass its output"
        )
    return Manifest(elements[0].attributes.get("package", ""), elements[1:])


def manifest_problems(manifest: Manifest, expected_min_sdk: int = EXPECTED_MIN_SDK) -> list[str]:
    problems = []
    for permission in manifest.permissions:
        if permission in FORBIDDEN_PERMISSIONS:
            problems.append(
                f"the merged manifest asks for {permission} ({FORBIDDEN_PERMISSIONS[permission]}): "
                "remove it in flutter_app/android/app/src/main/AndroidManifest.xml with "
                f'<uses-permission android:name="{permission}" tools:node="remove" />'
            )
        elif permission not in ALLOWED_PERMISSIONS and not (
            permission.startswith(manifest.package + ".")
            and permission.endswith(ALLOWED_PACKAGE_PERMISSION_SUFFIXES)
        ):
            problems.append(
                f"the merged manifest asks for {permission}, which the app does not use: a plugin "
                'brought it in; remove it in AndroidManifest.xml with tools:node="remove", or, if the '
                "app needs it, add it to ALLOWED_PERMISSIONS in src/paddy_edge/app/apk_check.py and to README"
            )
    for feature in manifest.all("uses-feature"):
        name = feature.attributes.get("name", "")
        if (
            name.startswith("android.hardware.camera")
            and feature.attributes.get("required", "true") != "false"
        ):
            problems.append(
                f"the merged manifest requires {name}: phones without it could not install the app "
                'although the gallery works without a camera; declare it with android:required="false" '
                '(and tools:replace="android:required" when a plugin declares it)'
            )
    if manifest.min_sdk != expected_min_sdk:
        problems.append(
            f"the APK's minSdkVersion is {manifest.min_sdk}, README says API {expected_min_sdk}: update "
            "README's phone section (and EXPECTED_MIN_SDK in src/paddy_edge/app/apk_check.py) or the "
            "Gradle file"
        )
    return problems


# --- the model inside --------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def asset_problems(archive: zipfile.ZipFile, apk_name: str, expected: dict[str, Path]) -> list[str]:
    """Every model file the app loads is in the APK, byte for byte the file `expected` names for its
    asset path: the app's own (the flutter job), or the gated model's (a release, ci/release.py)."""
    names = set(archive.namelist())
    problems = []
    for asset, file in expected.items():
        entry = APK_ASSET_PREFIX + asset
        if entry not in names:
            problems.append(
                f"{apk_name}: {entry} is missing: is it listed under flutter: assets: in pubspec.yaml?"
            )
        elif _sha256(archive.read(entry)) != _sha256(file.read_bytes()):
            problems.append(f"{apk_name}: {entry} differs from {file} (sha256)")
    return problems


def app_files(app_dir: Path) -> dict[str, Path]:
    """The model files the app loads, as they are in the app: what its APK must carry."""
    return {asset: app_dir / asset for asset in APP_ASSETS.values()}


# --- the report --------------------------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB ({size:,} bytes)"


def _abi(apk: Path) -> str:
    match = re.search(r"^app-(.+?)-release(?:-[\w-]+)?\.apk$", apk.name)  # e.g. ...-release-debug-signed.apk
    return match.group(1) if match else "universal"


def check(
    apks: list[Path],
    manifest_dump: Path,
    app_dir: Path = paths.FLUTTER_APP,
    expected_min_sdk: int = EXPECTED_MIN_SDK,
) -> tuple[list[str], list[str], list[str]]:
    """Returns (report lines in Markdown, problems that fail the check, warnings)."""
    if not apks:
        raise UserError("no APK given: pass the APKs `flutter build apk` wrote")
    try:
        manifest = parse_manifest_dump(manifest_dump.read_text(), str(manifest_dump))
    except OSError as exc:
        raise UserError(f"{manifest_dump} cannot be read ({exc.strerror}): dump the manifest first") from None
    problems = manifest_problems(manifest, expected_min_sdk)
    ordered = sorted(apks, key=lambda apk: (_abi(apk) != "arm64-v8a", apk.name))
    report = [
        "## The built APK",
        "",
        f"Merged manifest of `{manifest.package}`: minSdkVersion {manifest.min_sdk}; permissions "
        + (", ".join(f"`{p}`" for p in manifest.permissions) or "none")
        + "; camera features: "
        + (
            ", ".join(
                f"`{f.attributes.get('name')}` required={f.attributes.get('required', 'true')}"
                for f in manifest.all("uses-feature")
                if f.attributes.get("name", "").startswith("android.hardware.camera")
            )
            or "none"
        )
        + ".",
        "",
        "| APK | ABI | size |",
        "|---|---|---|",
    ]
    alignments: list[LibraryAlignment] = []
    for apk in ordered:
        try:
            archive = zipfile.ZipFile(apk)
        except (OSError, zipfile.BadZipFile) as exc:
            raise UserError(
                f"{apk} is not an APK ({exc}): pass the files `flutter build apk` wrote"
            ) from None
        with archive:
            problems += asset_problems(archive, apk.name, app_files(app_dir))
            alignments += library_alignments(apk, archive)
        report.append(f"| `{apk.name}` | {_abi(apk)} | {_megabytes(apk.stat().st_size)} |")
    report += ["", "### 16 KB page alignment of the native libraries", "", *alignment_report(alignments)]
    problems += [
        f"{lib.path} is not 16 KB aligned (smallest LOAD p_align {lib.min_load_align:#x}"
        + ("" if lib.zip_aligned else f", zip offset {lib.zip_offset:#x}")
        + "): a 16 KB-page device cannot load it and Google Play refuses the app"
        for lib in misaligned_libraries(alignments)
    ]
    warnings = [
        f"{apk.name} is {_megabytes(apk.stat().st_size)}, over the arm64 APK's {ARM64_TARGET_MB} MB target"
        for apk in ordered
        if _abi(apk) == "arm64-v8a" and apk.stat().st_size > ARM64_TARGET_MB * 1e6
    ]
    if not problems:
        report.insert(2, "Model, card and labels are inside every APK; the merged manifest passes.\n")
    return report, problems, warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("apks", type=Path, nargs="+", help="the APKs `flutter build apk` wrote")
    parser.add_argument(
        "--manifest-dump", type=Path, required=True, help="aapt2 dump xmltree --file AndroidManifest.xml APK"
    )
    parser.add_argument("--app", dest="app_dir", type=Path, default=paths.FLUTTER_APP)
    parser.add_argument("--min-sdk", type=int, default=EXPECTED_MIN_SDK, help="the SDK floor README states")
    parser.add_argument("--summary", type=Path, help="append the report here (e.g. $GITHUB_STEP_SUMMARY)")
    args = parser.parse_args(argv)
    try:
        report, problems, warnings = check(args.apks, args.manifest_dump, args.app_dir, args.min_sdk)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = "\n".join(report) + "\n"
    print(text)
    if args.summary:
        with args.summary.open("a") as summary:
            summary.write(text)
    in_actions = bool(os.environ.get("GITHUB_ACTIONS"))
    for warning in warnings:
        print(f"::warning title=APK size::{warning}" if in_actions else f"warning: {warning}")
    for problem in problems:
        print(f"::error title=APK check::{problem}" if in_actions else f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
