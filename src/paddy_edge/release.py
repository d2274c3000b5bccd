"""The release workflow's steps that are more than one command: signing setup, APK verification,
checksums and release notes. Standard library only: `python -m paddy_edge.release <command> ...`.

Secrets (keystore, passwords) are read from the environment, written only where Gradle reads them, and
never printed."""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

from paddy_edge.app_assets import APP_ASSETS, sha256

SIGNING_VARIABLES = (
    "ANDROID_KEYSTORE_BASE64",
    "ANDROID_KEYSTORE_PASSWORD",
    "ANDROID_KEY_ALIAS",
    "ANDROID_KEY_PASSWORD",
)
APK_ASSET_PREFIX = "assets/flutter_assets/"


class ReleaseError(Exception):
    """A release step cannot go on; the message says why and what to do."""


def configure_signing(android_dir: Path, environ: dict[str, str]) -> str:
    """Write android/key.properties and the keystore from the environment. Returns 'release' when
    signing is configured, 'debug' when no signing variable is set (Gradle then uses the debug key)."""
    present = [name for name in SIGNING_VARIABLES if environ.get(name)]
    if not present:
        return "debug"
    missing = [name for name in SIGNING_VARIABLES if name not in present]
    if missing:
        raise ReleaseError(
            f"release signing is half configured: set {', '.join(missing)} too, or none of them"
        )
    try:
        keystore = base64.b64decode(environ["ANDROID_KEYSTORE_BASE64"], validate=True)
    except (binascii.Error, ValueError):
        raise ReleaseError(
            "ANDROID_KEYSTORE_BASE64 is not base64: encode the .jks with `base64 -w0`"
        ) from None
    (android_dir / "app").mkdir(parents=True, exist_ok=True)
    (android_dir / "app/upload-keystore.jks").write_bytes(keystore)
    properties = android_dir / "key.properties"
    properties.write_text(
        f"storePassword={environ['ANDROID_KEYSTORE_PASSWORD']}\n"
        f"keyPassword={environ['ANDROID_KEY_PASSWORD']}\n"
        f"keyAlias={environ['ANDROID_KEY_ALIAS']}\n"
        "storeFile=upload-keystore.jks\n"
    )
    properties.chmod(0o600)
    return "release"


def verify_apk(apk: Path, model_dir: Path) -> list[str]:
    """The APK carries exactly the model files of model_dir at the paths the app loads, and not the
    placeholder. Returns the problems found (none means verified)."""
    try:
        archive = zipfile.ZipFile(apk)
    except (zipfile.BadZipFile, OSError) as exc:
        return [f"{apk}: not an APK ({exc})"]
    problems = []
    with archive:
        names = set(archive.namelist())
        for name, asset in APP_ASSETS.items():
            entry = APK_ASSET_PREFIX + asset
            if entry not in names:
                problems.append(f"{apk.name}: {entry} is missing")
            elif hashlib.sha256(archive.read(entry)).hexdigest() != sha256(model_dir / name):
                problems.append(f"{apk.name}: {entry} is not the gated {name} (sha256 differs)")
    if not problems and json.loads((model_dir / "model_card.json").read_text()).get("placeholder"):
        problems.append(f"{apk.name}: ships the untrained placeholder model")
    return problems


def write_checksums(files: list[Path], target: Path) -> None:
    """sha256sum's format, so `sha256sum -c SHA256SUMS` checks a download."""
    lines = [f"{sha256(path)}  {path.name}" for path in sorted(files, key=lambda p: p.name)]
    target.write_text("\n".join(lines) + "\n")


def release_notes(tag: str, card: dict, gate_markdown: str, signing: str, checksums: str) -> str:
    signed = (
        "Signed with the project's release key."
        if signing == "release"
        else "⚠️ **Debug-signed**: no release keystore was configured. Fine for sideloading and testing; "
        "reinstalling a later release-signed build needs an uninstall first."
    )
    inputs = card["input"]
    return "\n".join(
        [
            f"# paddy-edge {tag}",
            "",
            f"Model `{card['architecture']}`, {card['num_classes']} classes, "
            f"input {inputs['width']}×{inputs['height']} (squished, mean {inputs['mean']}, "
            f"std {inputs['std']}); "
            f"MLflow run `{card.get('mlflow_run_id')}`.",
            "",
            "## Gates",
            gate_markdown.strip(),
            "",
            "## APKs",
            "`app-arm64-v8a-release.apk` fits most phones; `app-release.apk` is universal (all ABIs). "
            "Install by opening the file on the phone (allow installing from this source). " + signed,
            "",
            "## SHA-256",
            "```",
            checksums.strip(),
            "```",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sign = commands.add_parser("signing", help="write key.properties from ANDROID_* variables")
    sign.add_argument("--android-dir", type=Path, default=Path("flutter_app/android"))
    verify = commands.add_parser("verify-apk", help="check the gated model is inside each APK")
    verify.add_argument("apks", type=Path, nargs="+")
    verify.add_argument("--model-dir", type=Path, required=True)
    sums = commands.add_parser("checksums", help="write SHA256SUMS")
    sums.add_argument("files", type=Path, nargs="+")
    sums.add_argument("--out", type=Path, required=True)
    notes = commands.add_parser("notes", help="write the release notes")
    notes.add_argument("--tag", required=True)
    notes.add_argument("--card", type=Path, required=True)
    notes.add_argument("--gate", type=Path, required=True, help="gate table markdown")
    notes.add_argument("--signing", choices=("release", "debug"), required=True)
    notes.add_argument("--checksums", type=Path, required=True)
    notes.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "signing":
            mode = configure_signing(args.android_dir, dict(os.environ))
            print(f"APK signing: {mode}")
            if os.environ.get("GITHUB_OUTPUT"):
                with open(os.environ["GITHUB_OUTPUT"], "a") as output:
                    output.write(f"mode={mode}\n")
        elif args.command == "verify-apk":
            problems = [p for apk in args.apks for p in verify_apk(apk, args.model_dir)]
            if problems:
                raise ReleaseError("; ".join(problems))
            print(f"{len(args.apks)} APK(s) carry the gated model, card and labels")
        elif args.command == "checksums":
            write_checksums(args.files, args.out)
            print(f"wrote {args.out} for {len(args.files)} file(s)")
        else:
            card = json.loads(args.card.read_text())
            args.out.write_text(
                release_notes(args.tag, card, args.gate.read_text(), args.signing, args.checksums.read_text())
            )
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
