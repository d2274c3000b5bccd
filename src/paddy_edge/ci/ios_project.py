"""The iOS jobs' finishing touches to the `ios/` folder that `flutter create --platforms=ios` generates.

flutter_app/ commits no `ios/` folder: the macOS jobs generate it (`flutter create` leaves lib/, pubspec.yaml
and every other existing file as they are), then this module sets what the template leaves out:
- the usage strings image_picker needs: `NSCameraUsageDescription` (the app's camera button) and
  `NSPhotoLibraryUsageDescription` (its gallery button); iOS ends an app that asks without them;
- the iOS deployment target the ExecuTorch plugin needs (executorch_flutter: iOS 13.0+), in the Runner
  project and, when `flutter pub get` wrote one, the Podfile's `platform :ios`.
A value already there is kept when it is at least as strict (a usage string someone wrote, a higher target).

Standard library only: `python3 -m paddy_edge.ci.ios_project --app flutter_app`."""

from __future__ import annotations

import argparse
import plistlib
import re
import sys
from pathlib import Path

IOS_DEPLOYMENT_TARGET = "13.0"  # executorch_flutter's iOS floor
USAGE_DESCRIPTIONS = {
    "NSCameraUsageDescription": (
        "paddy-edge takes a photo of a rice leaf to recognise its disease on this phone. "
        "The photo never leaves the phone."
    ),
    "NSPhotoLibraryUsageDescription": (
        "paddy-edge reads the photo of a rice leaf you choose to recognise its disease on this phone. "
        "The photo never leaves the phone."
    ),
}
_PBX_TARGET = re.compile(r"IPHONEOS_DEPLOYMENT_TARGET = ([0-9.]+);")
_POD_PLATFORM = re.compile(r"^[ \t]*#?[ \t]*platform :ios, '([0-9.]+)'[ \t]*$", re.M)


class IosProjectError(Exception):
    """The ios/ folder is not the one `flutter create` writes."""


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _at_least(current: str, floor: str) -> str:
    return current if _version(current) >= _version(floor) else floor


def patch_info_plist(plist: Path) -> list[str]:
    """Add the usage strings the plist lacks (an empty one counts as missing). Returns what changed."""
    with plist.open("rb") as handle:
        info = plistlib.load(handle)
    changed = []
    for key, text in USAGE_DESCRIPTIONS.items():
        if not str(info.get(key, "")).strip():
            info[key] = text
            changed.append(f"{plist.name}: {key}")
    if changed:
        with plist.open("wb") as handle:
            plistlib.dump(info, handle, fmt=plistlib.FMT_XML, sort_keys=False)
    return changed


def patch_pbxproj(pbxproj: Path, target: str = IOS_DEPLOYMENT_TARGET) -> list[str]:
    """Raise every IPHONEOS_DEPLOYMENT_TARGET of the Runner project to `target` (never lower one)."""
    text = pbxproj.read_text()
    found = _PBX_TARGET.findall(text)
    if not found:
        raise IosProjectError(f"{pbxproj} sets no IPHONEOS_DEPLOYMENT_TARGET: is it flutter create's?")
    patched = _PBX_TARGET.sub(
        lambda m: f"IPHONEOS_DEPLOYMENT_TARGET = {_at_least(m.group(1), target)};", text
    )
    if patched == text:
        return []
    pbxproj.write_text(patched)
    return [f"{pbxproj.name}: IPHONEOS_DEPLOYMENT_TARGET {', '.join(sorted(set(found)))} -> {target}"]


def patch_podfile(podfile: Path, target: str = IOS_DEPLOYMENT_TARGET) -> list[str]:
    """The Podfile's `platform :ios` line (flutter's template has it commented out) at `target` or more."""
    text = podfile.read_text()
    match = _POD_PLATFORM.search(text)
    if match:
        line = f"platform :ios, '{_at_least(match.group(1), target)}'"
        patched = text[: match.start()] + line + text[match.end() :]
    else:
        patched = f"platform :ios, '{target}'\n{text}"
    if patched == text:
        return []
    podfile.write_text(patched)
    return [f"{podfile.name}: platform :ios, '{target}'"]


def prepare(app: Path, target: str = IOS_DEPLOYMENT_TARGET) -> list[str]:
    """Patch app/ios as above. Returns what changed (empty: nothing to do)."""
    ios = app / "ios"
    plist = ios / "Runner" / "Info.plist"
    pbxproj = ios / "Runner.xcodeproj" / "project.pbxproj"
    for required in (plist, pbxproj):
        if not required.is_file():
            raise IosProjectError(
                f"{required} is missing: generate ios/ first, in {app}: "
                "flutter create --platforms=ios --org org.paddyedge --project-name paddy_edge_app ."
            )
    changed = patch_info_plist(plist) + patch_pbxproj(pbxproj, target)
    podfile = ios / "Podfile"
    if podfile.is_file():  # flutter pub get writes it for an app with iOS plugins; CocoaPods reads it
        changed += patch_podfile(podfile, target)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", type=Path, default=Path("flutter_app"))
    parser.add_argument("--deployment-target", default=IOS_DEPLOYMENT_TARGET)
    args = parser.parse_args(argv)
    try:
        changed = prepare(args.app, args.deployment_target)
    except (IosProjectError, plistlib.InvalidFileException, ValueError) as exc:
        print(f"::error::{exc}")
        return 1
    for line in changed or ["nothing to change: the usage strings and the deployment target are set"]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
