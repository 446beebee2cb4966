"""Opening images safely: every decoder problem becomes one `BadImage` naming the file.

Real-world folders hold truncated downloads, text files named `.jpg`, 16-bit scans and
decompression bombs. The pipeline must survive all of them, so nothing here raises anything
but `BadImage`, and every image that comes out is 8-bit RGB.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import ExifTags, Image, ImageOps

from ..errors import BadImage

try:  # HEIC/HEIF phone photos; the opener registers the "HEIF" format with Pillow.
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    HEIF_SUPPORTED = False
else:
    register_heif_opener()
    HEIF_SUPPORTED = True

DECODE_VERSION = "exif1"
"""Bumped whenever decoding changes the pixels an image yields (here: EXIF orientation is
applied), so that feature caches keyed on it never mix old and new pixels."""

MIN_IMAGE_SIDE = 16
"""Below this many pixels on the short side an image is refused: a 1x1 or 4x4 picture holds
no evidence either way, and any verdict on it would be noise reported with confidence."""

ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PPM") + (
    ("HEIF",) if HEIF_SUPPORTED else ()
)
"""The Pillow formats decoding may reach. Everything else (EPS, PDF, ICNS, ...) is refused
before its plugin runs, so e.g. an EPS file never reaches Ghostscript."""

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".heic", ".heif"}
)
DEFAULT_MAX_PIXELS = 50_000_000
"""The one default limit on decoded pixels (decompression bombs), for every command and the server."""

ImageFormat = Literal["jpeg", "png", "webp"]
"""The formats images are written in, spelled the same everywhere (the CLI accepts any case)."""
FORMAT_SUFFIXES: dict[str, str] = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}
"""Above this many pixels an image is refused: large enough for any camera, small enough
that a crafted file cannot exhaust memory."""

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})

# We enforce our own limit (configurable, with a clear message); PIL's global one would
# otherwise fire first with a warning or an error of its own wording.
Image.MAX_IMAGE_PIXELS = None


def image_id(data: bytes) -> str:
    """A content hash, so the same picture is recognised wherever it lives."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_image_id(path: str | Path) -> str:
    return image_id(Path(path).read_bytes())


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def decode_rgb(
    data: bytes,
    name: str = "<bytes>",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
) -> Image.Image:
    """Decode image bytes to 8-bit RGB, upright as a viewer shows it, or raise `BadImage`.

    This is the one decoding function: training, extraction, prediction and serving all see
    the same pixels. The EXIF orientation is applied here, since a phone photo stored sideways
    with an orientation tag would otherwise be scored sideways (and verdicts flip).

    `draft_size` lets the JPEG decoder scale down by a power of two while decoding (DCT
    scaling) when the image will be resized to about that size anyway: several times faster
    on photographs, and used only under the resize policy, never for centre crops.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Palette images with transparency"
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            _check_size(img.size, name, max_pixels)
            if draft_size and img.format in {"JPEG", "MPO"}:
                img.draft("RGB", (draft_size, draft_size))
            img.load()
            return to_rgb(_upright(img))  # after draft: transposing needs the loaded pixels
    except BadImage:
        raise
    except Image.DecompressionBombError as exc:
        raise BadImage(f"{name}: refused as a decompression bomb ({exc})") from None
    except Image.UnidentifiedImageError:
        raise BadImage(f"{name}: {_unidentified_reason(data)}") from None
    except Exception as exc:  # PIL raises many types: OSError, SyntaxError, ValueError...
        raise BadImage(f"{name}: {str(exc) or type(exc).__name__}") from None


def _check_size(size: tuple[int, int], name: str, max_pixels: int | None) -> None:
    """Refuse from the header alone: bombs before allocating, slivers before scoring."""
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise BadImage(
            f"{name}: {width}x{height} = {width * height:,} pixels is above the "
            f"limit of {max_pixels:,} (possible decompression bomb; raise --max-pixels "
            "if the image is genuine)"
        )
    if min(width, height) < MIN_IMAGE_SIDE:
        raise BadImage(
            f"{name}: too small to carry evidence: {width}x{height} px, minimum {MIN_IMAGE_SIDE}"
        )


def as_upright_rgb(img: Image.Image, name: str = "<image>") -> Image.Image:
    """An image already in memory (a caller's PIL image) made what `decode_rgb` makes of
    bytes: refused when too small, turned upright, 8-bit RGB. The caller's image is not
    changed, so a PIL input and the same picture as a file give the same pixels."""
    _check_size(img.size, name, max_pixels=None)
    try:
        return to_rgb(_upright(img))
    except Exception as exc:  # e.g. a lazily opened image whose file is truncated
        raise BadImage(f"{name}: {str(exc) or type(exc).__name__}") from None


def _upright(img: Image.Image) -> Image.Image:
    """The image rotated/mirrored as its EXIF orientation tag says (a new image), or itself.
    A broken EXIF block is ignored: the pixels are fine, only the hint is lost."""
    try:
        orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        return img
    if orientation not in range(2, 9):
        return img
    return ImageOps.exif_transpose(img)


def _unidentified_reason(data: bytes) -> str:
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "unsupported format: HEIC (install pillow-heif to read phone photos)"
    return f"not an image in a supported format ({', '.join(ALLOWED_FORMATS)})"


def load_rgb(
    path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, draft_size: int | None = None
) -> Image.Image:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadImage(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_rgb(data, str(path), max_pixels, draft_size)


def load_source(
    source: str | Path | Image.Image, name: str, max_pixels: int | None = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
) -> Image.Image:
    """Any image source as upright 8-bit RGB, or `BadImage` naming it: a path is read and
    decoded (`load_rgb`), a PIL image already in memory gets the same checks (`as_upright_rgb`).
    The one entry point of every image pipeline, torch or not."""
    if isinstance(source, Image.Image):
        return as_upright_rgb(source, name)
    return load_rgb(source, max_pixels, draft_size)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB, keeping the full tonal range of 16-bit and float images.

    PIL's own `convert("RGB")` clips 16-bit values at 255, which would turn most of a
    16-bit scan white, so high-bit-depth modes are rescaled first.
    """
    if img.mode == "RGB":
        return img
    if img.mode in {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}:
        arr = np.asarray(img, dtype=np.float64)
        if img.mode != "F" and arr.max(initial=0) > 255:
            arr = arr / 257.0  # 16-bit range 0..65535 onto 0..255
        elif img.mode == "F":
            low, high = float(arr.min(initial=0)), float(arr.max(initial=1))
            arr = (arr - low) / max(high - low, 1e-12) * 255.0
        gray = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), mode="L")
        return gray.convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in {"RGBA", "LA", "PA"}:
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")


def reencode(src: Path, dst: Path, fmt: str = "JPEG", quality: int = 95, size: int | None = None) -> None:
    """Write `src` decoded to RGB and saved again with fixed settings (and optionally resized
    to size x size, bicubic), so real and fake images no longer differ by container."""
    img = load_rgb(src)
    if size:
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    dst.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": quality} if fmt.upper() in {"JPEG", "WEBP"} else {}
    img.save(dst, format=fmt.upper(), **options)
