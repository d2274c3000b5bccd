"""The release workflow's steps that are more than one command: signing setup, APK verification,
checksums and release notes. Standard library only: `python -m paddy_edge.ci.release <command> ...`.

Secrets (keystore, passwords) are read from the environment, written only where Gradle reads them, and
never printed."""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

from paddy_edge import paths
from paddy_edge.app.apk_check import asset_problems
from paddy_edge.app.app_assets import APP_ASSETS
from paddy_edge.card import read_card
from paddy_edge.errors import UserError, exit_code
from paddy_edge.runtime import outputs

SIGNING_VARIABLES = (
    "ANDROID_KEYSTORE_BASE64",
    "ANDROID_KEYSTORE_PASSWORD",
    "ANDROID_KEY_ALIAS",
    "ANDROID_KEY_PASSWORD",
)
DEBUG_SIGNED_NOTE = (
    "No release keystore secrets are set, so these APKs are signed with this runner's throwaway debug "
    "key: for testing only. A phone with another build installed must uninstall it first."
)

SMOKE_MODEL_NOTE = (
    "> [!WARNING]\n> **Smoke model.** Trained in minutes on the smoke profile's generated sample images, "
    "not on the paddy photos: it does not recognise rice diseases. This release exercises the release "
    "path (gates, reproduction from main's cache, APK build); set the Kaggle secret and release the real "
    "profile for a model to use."
)

IOS_UNSIGNED_NOTE = (
    "An **unsigned** build of the same app and model for iPhones (`flutter build ios --release "
    "--no-codesign`): no iPhone installs it as it is. Signing takes an Apple Developer Program membership, "
    "a distribution certificate and a provisioning profile for the bundle id `org.paddyedge.paddyEdgeApp`, "
    "then `flutter build ipa` (docs/ci-cd.md, Signing the iOS app)."
)

RELEASE_TAG_PREFIX = "refs/tags/v"  # the refs release.yml publishes from (its publish job's condition)


def java_properties_escape(text: str, *, key: bool = False) -> str:
    """`text` as java.util.Properties.store writes it (saveConvert), so Properties.load, which Gradle's
    build script uses to read key.properties, gives `text` back: backslash, the separators = and :, the
    comment starts # and !, control characters and a leading space (every space in a key) escaped;
    everything outside printable ASCII as \\uXXXX UTF-16 units, as load reads the file as ISO-8859-1."""
    out = []
    for index, char in enumerate(text):
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif char == " ":
            out.append("\\ " if index == 0 or key else " ")
        elif char in "\t\n\r\f":
            out.append("\\" + {"\t": "t", "\n": "n", "\r": "r", "\f": "f"}[char])
        elif char in "=:#!":
            out.append("\\" + char)
        elif 0x20 <= code <= 0x7E:
            out.append(char)
        else:
            units = char.encode("utf-16-be")
            out += [f"\\u{int.from_bytes(units[i : i + 2], 'big'):04X}" for i in range(0, len(units), 2)]
    return "".join(out)


def _release_signing_required(environ: dict[str, str]) -> bool:
    """A v* tag publishes: its APKs need the project's key. Not the smoke model's pre-release (labelled
    not for use, to try the release path before any key exists): it may be debug-signed."""
    tagged = environ.get("GITHUB_REF", "").startswith(RELEASE_TAG_PREFIX)
    return tagged and environ.get("RELEASE_PROFILE", "real") != "smoke"


def configure_signing(android_dir: Path, environ: dict[str, str], *, write: bool = True) -> str:
    """Write android/key.properties and the keystore from the environment. Returns 'release' when
    signing is configured, 'debug' when no signing variable is set (Gradle then uses the debug key).

    A build of a v* tag (GITHUB_REF refs/tags/v..., what the release workflow publishes) must be signed
    with the project's key, or users could not install the next release over it: without the
    variables it is a UserError naming them, unless RELEASE_PROFILE is smoke. With write=False only the
    checks run."""
    present = [name for name in SIGNING_VARIABLES if environ.get(name)]
    if not present:
        if _release_signing_required(environ):
            raise UserError(
                f"{environ['GITHUB_REF']} is a release tag, and a published APK must be signed with the "
                f"project's key (or users cannot update in place): set the repository secrets "
                f"{', '.join(SIGNING_VARIABLES)} (Settings > Secrets and variables > Actions; "
                "see docs/ci-cd.md). "
                "A manual run of the workflow on a branch, or a release of the smoke model "
                "(RELEASE_PROFILE=smoke), builds debug-signed APKs without them."
            )
        return "debug"
    missing = [name for name in SIGNING_VARIABLES if name not in present]
    if missing:
        raise UserError(f"release signing is half configured: set {', '.join(missing)} too, or none of them")
    try:
        keystore = base64.b64decode(environ["ANDROID_KEYSTORE_BASE64"], validate=True)
    except (binascii.Error, ValueError):
        raise UserError("ANDROID_KEYSTORE_BASE64 is not base64: encode the .jks with `base64 -w0`") from None
    if not write:
        return "release"
    (android_dir / "app").mkdir(parents=True, exist_ok=True)
    (android_dir / "app/upload-keystore.jks").write_bytes(keystore)
    values = {
        "storePassword": environ["ANDROID_KEYSTORE_PASSWORD"],
        "keyPassword": environ["ANDROID_KEY_PASSWORD"],
        "keyAlias": environ["ANDROID_KEY_ALIAS"],
        "storeFile": "upload-keystore.jks",
    }
    properties = android_dir / "key.properties"
    properties.touch(mode=0o600)
    properties.chmod(0o600)
    properties.write_text(
        "".join(
            f"{java_properties_escape(k, key=True)}={java_properties_escape(v)}\n" for k, v in values.items()
        ),
        encoding="ascii",
    )
    return "release"


def verify_apk(apk: Path, model_dir: Path) -> list[str]:
    """The APK carries exactly the model files of model_dir at the paths the app loads, and not the
    placeholder. Returns the problems found (none means verified)."""
    try:
        archive = zipfile.ZipFile(apk)
    except (zipfile.BadZipFile, OSError) as exc:
        return [f"{apk}: not an APK ({exc})"]
    with archive:
        gated = {asset: model_dir / name for name, asset in APP_ASSETS.items()}
        problems = asset_problems(archive, apk.name, gated)
    if not problems and json.loads((model_dir / "model_card.json").read_text()).get("placeholder"):
        problems.append(f"{apk.name}: ships the untrained placeholder model")
    return problems


def write_checksums(files: list[Path], target: Path) -> None:
    """sha256sum's format, so `sha256sum -c SHA256SUMS` checks a download."""
    lines = [f"{outputs.sha256(path)}  {path.name}" for path in sorted(files, key=lambda p: p.name)]
    target.write_text("\n".join(lines) + "\n")


def copy_model_files(card_file: Path, out: Path) -> list[Path]:
    """The release's model assets: every file the card lists (each gated format's files and
    labels.txt), checked against the card's sha256 on the way, and the card itself."""
    card = read_card(card_file)
    out.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, entry in sorted(card["files"].items()):
        source = card_file.parent / name
        if not source.is_file():
            raise UserError(f"{source} is missing, and {card_file} lists it: the model folder is incomplete")
        if outputs.sha256(source) != entry["sha256"]:
            raise UserError(f"{source} is not the file {card_file} describes (sha256 differs): export again")
        shutil.copy2(source, out / name)
        copied.append(out / name)
    shutil.copy2(card_file, out / card_file.name)
    return [*copied, out / card_file.name]


def formats_list(card: dict) -> str:
    """One line per built format with its files and size, for the release notes."""
    lines = []
    for name, built in card.get("formats", {}).items():
        files = ", ".join(f"`{file}`" for file in built["files"])
        app = " (the app's)" if name == card.get("phone", {}).get("format") else ""
        lines.append(f"- **{name}**{app}: {files}, {built['bytes'] / 1e6:.2f} MB")
    return "\n".join(lines)


def release_notes(
    tag: str,
    card: dict,
    gate_markdown: str,
    signing: str,
    checksums: str,
    gated: dict | None = None,
    ios_asset: str = "",
) -> str:
    """The release's page: the commit main gated and its MLflow run, the gate table, the APKs, sums."""
    signed = (
        "Signed with the project's release key."
        if signing == "release"
        else "⚠️ **Debug-signed**: no release keystore was configured. Fine for sideloading and testing; "
        "reinstalling a later release-signed build needs an uninstall first."
    )
    inputs = card["input"]
    provenance = (
        f"The model main gated at commit `{gated['commit']}` (MLflow run `{gated['mlflow_run_id']}`), "
        "reproduced from main's DVC run-cache and checked file by file (sha256) before building."
        if gated
        else f"MLflow run `{card.get('mlflow_run_id')}`."
    )
    smoke = [SMOKE_MODEL_NOTE, ""] if gated and gated.get("profile") == "smoke" else []
    return "\n".join(
        [
            f"# paddy-edge {tag}",
            "",
            *smoke,
            f"Model `{card['architecture']}`, {card['num_classes']} classes, "
            f"input {inputs['width']}×{inputs['height']} (squished, mean {inputs['mean']}, "
            f"std {inputs['std']}).",
            "",
            provenance,
            "",
            "## Gates",
            gate_markdown.strip(),
            "",
            "## Model files",
            "Every format the gate judged, from the same weights (docs/formats.md):",
            formats_list(card),
            "",
            "## APKs",
            "`app-arm64-v8a-release.apk` fits most phones; `app-release.apk` is universal (all ABIs). "
            "Install by opening the file on the phone (allow installing from this source). " + signed,
            "",
            *([f"## iOS (unsigned): `{ios_asset}`", IOS_UNSIGNED_NOTE, ""] if ios_asset else []),
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
    sign.add_argument("--android-dir", type=Path, default=paths.FLUTTER_APP / "android")
    sign.add_argument(
        "--check", action="store_true", help="only check the variables (e.g. before a long training job)"
    )
    verify = commands.add_parser("verify-apk", help="check the gated model is inside each APK")
    verify.add_argument("apks", type=Path, nargs="+")
    verify.add_argument("--model-dir", type=Path, required=True)
    files = commands.add_parser("model-files", help="copy the card's files, checked by sha256, and the card")
    files.add_argument("--card", type=Path, required=True)
    files.add_argument("--out", type=Path, required=True)
    sums = commands.add_parser("checksums", help="write SHA256SUMS")
    sums.add_argument("files", type=Path, nargs="+")
    sums.add_argument("--out", type=Path, required=True)
    notes = commands.add_parser("notes", help="write the release notes")
    notes.add_argument("--tag", required=True)
    notes.add_argument("--card", type=Path, required=True)
    notes.add_argument("--gate", type=Path, required=True, help="gate table markdown")
    notes.add_argument("--signing", choices=("release", "debug"), required=True)
    notes.add_argument("--checksums", type=Path, required=True)
    notes.add_argument("--gated", type=Path, help="gated.json: the commit and MLflow run main gated")
    notes.add_argument("--ios-asset", default="", help="the unsigned iOS build's file name, if attached")
    notes.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    return exit_code(lambda: _run(args))


def _run(args: argparse.Namespace) -> None:
    if args.command == "signing":
        mode = configure_signing(args.android_dir, dict(os.environ), write=not args.check)
        print(f"APK signing: {mode}")
        if mode == "debug" and os.environ.get("GITHUB_ACTIONS") and not args.check:
            # The label a debug-signed manual run carries: an annotation on the run, a summary line.
            print(f"::warning title=Debug-signed APK::{DEBUG_SIGNED_NOTE}")
            if os.environ.get("GITHUB_STEP_SUMMARY"):
                with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as summary:
                    summary.write(f"**Debug-signed APK.** {DEBUG_SIGNED_NOTE}\n")
        if os.environ.get("GITHUB_OUTPUT") and not args.check:
            with open(os.environ["GITHUB_OUTPUT"], "a") as output:
                output.write(f"mode={mode}\n")
    elif args.command == "verify-apk":
        problems = [p for apk in args.apks for p in verify_apk(apk, args.model_dir)]
        if problems:
            raise UserError("; ".join(problems))
        print(f"{len(args.apks)} APK(s) carry the gated model, card and labels")
    elif args.command == "model-files":
        copied = copy_model_files(args.card, args.out)
        print(f"copied {len(copied)} model file(s) to {args.out}, each as its card describes")
    elif args.command == "checksums":
        write_checksums(args.files, args.out)
        print(f"wrote {args.out} for {len(args.files)} file(s)")
    else:
        card = read_card(args.card)
        args.out.write_text(
            release_notes(
                args.tag,
                card,
                args.gate.read_text(),
                args.signing,
                args.checksums.read_text(),
                json.loads(args.gated.read_text()) if args.gated else None,
                args.ios_asset,
            )
        )


if __name__ == "__main__":
    sys.exit(main())
