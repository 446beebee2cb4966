"""Opening images safely: every decoder problem becomes one `BadImage` naming the file.

Real-world folders hold truncated downloads, text files named `.jpg`, 16-bit scans and
decompression bombs. The pipeline must survive all of them, so nothing here raises anything
but `BadImage`, and every image that comes out is 8-bit RGB.
"""

from __future__ import annotations

from ..errors import BadImage

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
DEFAULT_MAX_PIXELS = 50_000_000
"""Above this many pixels an image is refused: large enough for any camera, small enough
that a crafted file cannot exhaust memory."""

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
    """Decode image bytes to 8-bit RGB, or raise `BadImage`.

    `draft_size` lets the JPEG decoder scale down by a power of two while decoding (DCT
    scaling) when the image will be resized to about that size anyway: several times faster
    on photographs, and used only under the resize policy, never for centre crops.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Palette images with transparency"
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if max_pixels is not None and width * height > max_pixels:
                raise BadImage(
                    f"{name}: {width}x{height} = {width * height:,} pixels is above the "
                    f"limit of {max_pixels:,} (possible decompression bomb; raise --max-pixels "
                    "if the image is genuine)"
                )
            if draft_size and img.format == "JPEG":
                img.draft("RGB", (draft_size, draft_size))
            img.load()
            return to_rgb(img)
    except BadImage:
        raise
    except Image.DecompressionBombError as exc:
        raise BadImage(f"{name}: refused as a decompression bomb ({exc})") from None
    except Exception as exc:  # PIL raises many types: OSError, SyntaxError, ValueError...
        reason = str(exc) or type(exc).__name__
        if "cannot identify image file" in reason:
            reason = "not an image (unrecognised format)"
        raise BadImage(f"{name}: {reason}") from None


def load_rgb(
    path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, draft_size: int | None = None
) -> Image.Image:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadImage(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_rgb(data, str(path), max_pixels, draft_size)


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
