"""Decode one photo file safely, the way the phone app's decoder sees it. prepare (training images),
evaluate and predict (through preprocess) all read photos here.

Safe: every way a file can fail (missing, empty, not an image, a header that declares more pixels than
PIL.Image.MAX_IMAGE_PIXELS, truncated or corrupt data) is an UnreadableImage whose message says why,
never a PIL exception type that a caller forgot (DecompressionBombError is not an OSError), and never
a grey image: PIL's ImageFile.LOAD_TRUNCATED_IMAGES stays False, so truncated data fails load().

Oriented like the app: pytorch_lite 4.3.2 decodes with the Dart `image` package's decodeImage, whose
JPEG decoder bakes the EXIF Orientation into the pixels (image 4.x, lib/src/formats/jpeg/
_jpeg_quantize_io.dart, getImageFromJpeg) and whose PNG decoder ignores EXIF (its eXIf case is
commented out). So a JPEG is turned upright by its Orientation tag here, a PNG never is."""

from __future__ import annotations

import io
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, UnidentifiedImageError

ORIENTATION_TAG = 0x0112
# What the `image` package does for each EXIF orientation, as PIL transposes (the same table as
# PIL.ImageOps.exif_transpose). 6, the usual portrait phone photo, is a quarter turn clockwise.
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# warnings.catch_warnings changes process-wide state: only one thread at a time opens a file under it.
_OPEN_LOCK = threading.Lock()


class UnreadableImage(ValueError):
    """A file that cannot be used as a photo. `kind` is a short category for counting (the message has
    the details)."""

    def __init__(self, kind: str, detail: str | None = None):
        super().__init__(f"{kind} ({detail})" if detail else kind)
        self.kind = kind


@dataclass(frozen=True)
class Decoded:
    rgb: Image.Image  # decoded, RGB, oriented as the app's decoder orients it
    mode: str  # as stored in the file (CMYK, L, RGBA, ...)
    format: str | None  # JPEG, PNG, ...
    size: tuple[int, int]  # as stored in the file, before orientation


def _too_many_pixels(pixels: int) -> UnreadableImage:
    return UnreadableImage(
        "too many pixels",
        f"header declares {pixels:,}, over PIL's limit of {Image.MAX_IMAGE_PIXELS:,}: a corrupt header "
        "or a decompression bomb",
    )


def _open(path: Path | io.BytesIO) -> Image.Image:
    """Image.open (the header only), with PIL's decompression-bomb check as an UnreadableImage."""
    with _OPEN_LOCK, warnings.catch_warnings():
        # Between 1x and 2x the limit PIL only warns: the size check in decode() refuses those.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except Image.DecompressionBombError as exc:
            found = re.search(r"\((\d+) pixels\)", str(exc))
            raise _too_many_pixels(int(found.group(1)) if found else 0) from None
        except UnidentifiedImageError:
            raise UnreadableImage("not an image") from None
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            raise
        except Exception as exc:  # a header PIL recognises but cannot parse (OSError, SyntaxError, ...)
            raise UnreadableImage("cannot decode", str(exc) or type(exc).__name__) from None


OVER_LIMIT = "over the pixel limit"


def decode(
    source: Path | bytes, max_side: int | None = None, min_side: int = 1, max_pixels: int | None = None
) -> Decoded:
    """Decode a photo, a file or its bytes (a served request), to RGB, oriented as the app does. With
    max_side, a JPEG may be decoded at a reduced scale no smaller than max_side (the caller shrinks it the
    rest of the way). With max_pixels, a header that declares more is refused before any decoding (kind
    OVER_LIMIT). Raises UnreadableImage."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # set by some library: truncated data would become grey pixels
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    if isinstance(source, bytes):
        if not source:
            raise UnreadableImage("empty file")
        return _decoded(_open(io.BytesIO(source)), max_side, min_side, max_pixels)
    try:
        if source.stat().st_size == 0:
            raise UnreadableImage("empty file")
        image = _open(source)
    except FileNotFoundError:
        raise UnreadableImage("no such file") from None
    except IsADirectoryError:
        raise UnreadableImage("not a file") from None
    except OSError as exc:
        raise UnreadableImage("cannot read", exc.strerror or str(exc)) from None
    return _decoded(image, max_side, min_side, max_pixels)


def _decoded(image: Image.Image, max_side: int | None, min_side: int, max_pixels: int | None) -> Decoded:
    with image:
        width, height = image.size
        if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
            raise _too_many_pixels(width * height)
        if max_pixels and width * height > max_pixels:
            raise UnreadableImage(
                OVER_LIMIT, f"{width}x{height} is {width * height:,} pixels, over {max_pixels:,}"
            )
        if min(width, height) < min_side:
            raise UnreadableImage("too small", f"{width}x{height} < {min_side} px")
        mode, file_format = image.mode, image.format
        try:
            orientation = image.getexif().get(ORIENTATION_TAG) if file_format == "JPEG" else None
            if max_side and max(width, height) > max_side:
                scale = max_side / max(width, height)
                image.draft("RGB", (int(width * scale), int(height * scale)))
            rgb = image.convert("RGB")
            rgb.load()
        except Exception as exc:  # any decoder failure of this one file (OSError, SyntaxError, ...)
            raise UnreadableImage("cannot decode", str(exc) or type(exc).__name__) from None
    if orientation in TRANSPOSE:
        rgb = rgb.transpose(TRANSPOSE[orientation])
    return Decoded(rgb, mode, file_format, (width, height))
