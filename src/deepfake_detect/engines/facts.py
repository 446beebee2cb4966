"""What the shortcut audit needs to know about a file, read from its header alone.

Shards carry each image's format, size and JPEG quality beside its features or score, so a
scaled-out run can be audited for container shortcuts (evaluate/shortcuts.py) without
opening millions of files a second time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from ..data.images import ALLOWED_FORMATS
from ..evaluate.shortcuts import jpeg_quality

FACT_COLUMNS = ("format", "width", "height", "jpeg_quality")


def file_facts(path: str | Path) -> dict[str, Any]:
    """{format, width, height, jpeg_quality} of the file at `path`; None where unknown (an
    unreadable file, a format outside the photo list, a JPEG quality for a PNG). The header
    is parsed, no pixels are decoded."""
    try:
        with Image.open(path, formats=ALLOWED_FORMATS) as img:
            quality = jpeg_quality(img) if img.format == "JPEG" else None
            return {"format": img.format, "width": img.width, "height": img.height, "jpeg_quality": quality}
    except Exception:  # the decoder names the problem in the row's error; facts are best effort
        return dict.fromkeys(FACT_COLUMNS)
