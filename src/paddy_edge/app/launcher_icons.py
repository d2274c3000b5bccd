"""The app's launcher icons: one committed source image, flutter_app/icon/launcher_icon.png, resized into
the mipmap folders Android picks from by screen density (what `flutter create` commits as
ic_launcher.png). Re-run after replacing the source: `python -m paddy_edge.app.launcher_icons` (needs Pillow,
which the project's venv has)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from paddy_edge import paths
from paddy_edge.errors import UserError

SOURCE = Path("icon/launcher_icon.png")  # inside the app folder
RES = Path("android/app/src/main/res")
# Android's launcher icon sizes: 48 dp at each density bucket.
SIZES = {"mdpi": 48, "hdpi": 72, "xhdpi": 96, "xxhdpi": 144, "xxxhdpi": 192}
MIN_SOURCE_SIDE = max(SIZES.values())


def icon_paths(app_dir: Path = paths.FLUTTER_APP) -> dict[Path, int]:
    return {app_dir / RES / f"mipmap-{density}/ic_launcher.png": side for density, side in SIZES.items()}


def generate(app_dir: Path = paths.FLUTTER_APP) -> list[Path]:
    """Write every mipmap-*/ic_launcher.png from the source image; returns the files written."""
    from PIL import Image

    source = app_dir / SOURCE
    if not source.is_file():
        raise UserError(f"{source} is missing: put a square PNG of at least {MIN_SOURCE_SIDE} px there")
    with Image.open(source) as opened:
        image = opened.convert("RGBA")
    if image.width != image.height or image.width < MIN_SOURCE_SIDE:
        raise UserError(
            f"{source} is {image.width}x{image.height}: the launcher icon source must be square and at "
            f"least {MIN_SOURCE_SIDE} px"
        )
    written = []
    for target, side in icon_paths(app_dir).items():
        target.parent.mkdir(parents=True, exist_ok=True)
        image.resize((side, side), Image.Resampling.LANCZOS).save(target, optimize=True)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the Android launcher icons from one source PNG.")
    parser.add_argument("--app", dest="app_dir", type=Path, default=paths.FLUTTER_APP)
    args = parser.parse_args(argv)
    try:
        written = generate(args.app_dir)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
