"""Generator metadata: the text that image generators write beside the pixels.

`GENERATORS` is a data table, one row per tool: the fields it writes and a pattern the value
must match (None: the field's presence is enough). Fields are PNG/WebP text chunks by their
keyword, EXIF tags as `exif:Name`, the JPEG comment as `comment`, XMP CreatorTool as
`xmp:CreatorTool`, and A1111's "stealth" copy in the alpha channel as `stealth`. A new
generator is one row; the contract test runs every row.

All of it is unsigned text: it can be forged, and an upscaler that copies it can leave it on
a real photo. It is weak evidence (it raises the probability, never proves).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .findings import Finding, Signal

MAX_FIELD_CHARS = 65_536
"""Only the start of each text is matched: patterns look at headers, and time stays bounded
however large a chunk is (Pillow itself caps PNG text at 64 MB in total)."""
MAX_FIELDS = 256
"""At most this many text fields are matched per file (a PNG may carry 10,000 chunks)."""


@dataclass(frozen=True)
class GeneratorRule:
    tool: str
    fields: tuple[str, ...]
    pattern: str | None = None
    """A regular expression searched in the value; None: the field's presence is enough."""

    def matches(self, field: str, value: str) -> bool:
        if field not in self.fields:
            return False
        return self.pattern is None or re.search(self.pattern, value[:MAX_FIELD_CHARS]) is not None


A1111_FIELDS = ("parameters", "exif:UserComment", "comment", "stealth")
SOFTWARE_FIELDS = ("Software", "exif:Software", "xmp:CreatorTool")

GENERATORS: tuple[GeneratorRule, ...] = (
    GeneratorRule("AUTOMATIC1111 / Forge / SD.Next", A1111_FIELDS, r"(?s)\bSteps: \d+, Sampler: "),
    GeneratorRule("ComfyUI", ("prompt",), r'"class_type"\s*:'),
    GeneratorRule("ComfyUI", ("workflow",), r'"nodes"\s*:'),
    GeneratorRule("ComfyUI", ("exif:Make", "exif:Model", "exif:ImageDescription"), r"^\s*(workflow|prompt)\s*:\s*\{"),
    GeneratorRule("InvokeAI", ("invokeai_metadata", "invokeai_graph", "sd-metadata", "Dream")),
    GeneratorRule("Fooocus", ("fooocus_scheme",)),
    GeneratorRule("NovelAI", ("Software", "exif:Software"), r"^\s*NovelAI"),
    GeneratorRule("NovelAI", ("Comment",), r'"(signed_hash|uc|noise_schedule)"\s*:'),
    GeneratorRule("Midjourney", ("Description", "exif:ImageDescription", "comment") + SOFTWARE_FIELDS,
                  r"(?i)\bJob ID: [0-9a-f-]{36}|\bmidjourney\b"),
    GeneratorRule("Stable Diffusion", SOFTWARE_FIELDS, r"(?i)\bstable[ -]?diffusion\b"),
    GeneratorRule("DALL-E", SOFTWARE_FIELDS, r"(?i)\bdall[-·]?e\b"),
    GeneratorRule("Adobe Firefly", SOFTWARE_FIELDS, r"(?i)\bfirefly\b"),
    GeneratorRule("Google Imagen", SOFTWARE_FIELDS, r"(?i)\bimagen\b"),
    GeneratorRule("FLUX", SOFTWARE_FIELDS, r"(?i)\bflux(\.?1)?\b|black forest labs"),
    GeneratorRule("Leonardo.Ai", SOFTWARE_FIELDS, r"(?i)\bleonardo\.?ai\b"),
    GeneratorRule("Ideogram", SOFTWARE_FIELDS, r"(?i)\bideogram\b"),
)

EXIF_TAGS = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x0131: "Software", 0x013B: "Artist"}
EXIF_IFD, USER_COMMENT = 0x8769, 0x9286


def generator_findings(fields: Mapping[str, str]) -> list[Finding]:
    """One weak GENERATED finding per tool whose row matches, naming the fields it was read from."""
    matched: dict[str, list[str]] = {}
    for name, value in list(fields.items())[:MAX_FIELDS]:
        for rule in GENERATORS:
            if rule.matches(name, value):
                matched.setdefault(rule.tool, []).append(name)
    findings = []
    for tool, names in matched.items():
        names = list(dict.fromkeys(names))
        where = ", ".join("alpha-channel stealth copy" if n == "stealth" else n for n in names)
        findings.append(Finding(
            "metadata", Signal.GENERATED, f"metadata: written by {tool} ({where}; unsigned)",
            tool=tool, details={"fields": names, "excerpts": {n: _excerpt(fields[n]) for n in names}},
        ))
    return findings


def _excerpt(value: str, limit: int = 300) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def text_fields(image: Any) -> dict[str, str]:
    """The text an opened Pillow image carries: text chunks, EXIF text tags, the JPEG comment."""
    fields: dict[str, str] = {}
    for key, value in list(image.info.items())[: MAX_FIELDS * 4]:
        if isinstance(value, str) and key not in ("XML:com.adobe.xmp",):
            fields[str(key)] = value
    comment = image.info.get("comment")
    if isinstance(comment, bytes):
        fields["comment"] = comment[:MAX_FIELD_CHARS].decode("utf-8", "replace")
    fields.update(exif_fields(image))
    return fields


def exif_fields(image: Any) -> dict[str, str]:
    exif = image.getexif()
    fields = {f"exif:{name}": _text(exif.get(tag)) for tag, name in EXIF_TAGS.items() if exif.get(tag)}
    comment = exif.get_ifd(EXIF_IFD).get(USER_COMMENT) if EXIF_IFD in exif else None
    if comment:
        fields["exif:UserComment"] = user_comment(comment)
    return {k: v for k, v in fields.items() if v}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value[:MAX_FIELD_CHARS].decode("utf-8", "replace").strip("\x00")
    return str(value)[:MAX_FIELD_CHARS]


def user_comment(value: Any) -> str:
    """EXIF UserComment: an 8-byte charset prefix, then the text (A1111 writes UTF-16)."""
    if isinstance(value, str):
        return value
    raw = bytes(value[: 2 * MAX_FIELD_CHARS + 8])
    prefix, body = raw[:8], raw[8:]
    if prefix.startswith(b"UNICODE"):
        big = body[:1] == b"\x00"  # ASCII text in UTF-16: the zero byte comes first in big-endian
        return body.decode("utf-16-be" if big else "utf-16-le", "replace").strip("\x00")
    return body.decode("utf-8", "replace").strip("\x00")


# --- the "stealth" copy in the alpha channel (stable-diffusion-webui-stealth-pnginfo) -----------

STEALTH_SIGNATURES = {b"stealth_pnginfo": False, b"stealth_pngcomp": True}
SIGNATURE_BITS = 15 * 8
MAX_STEALTH_BYTES = 1 << 20
MAX_STEALTH_PIXELS = 16_000_000


def stealth_text(image: Any) -> str | None:
    """The parameters hidden in the least significant bits of the alpha channel, column by
    column (as the extension writes them), or None. Gzip-compressed copies are unpacked to
    at most 1 MB."""
    import numpy as np

    if image.mode not in ("RGBA", "LA") or image.width * image.height > MAX_STEALTH_PIXELS:
        return None
    alpha = np.asarray(image.getchannel("A"))
    bits = (alpha.T & 1).ravel()
    if bits.size < SIGNATURE_BITS + 32:
        return None
    signature = np.packbits(bits[:SIGNATURE_BITS]).tobytes()
    if signature not in STEALTH_SIGNATURES:
        return None
    length = int("".join(map(str, bits[SIGNATURE_BITS : SIGNATURE_BITS + 32])), 2)
    end = SIGNATURE_BITS + 32 + min(length, 8 * MAX_STEALTH_BYTES)
    payload = np.packbits(bits[SIGNATURE_BITS + 32 : end]).tobytes()
    if STEALTH_SIGNATURES[signature]:
        payload = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload, MAX_STEALTH_BYTES)
    return payload.decode("utf-8", "replace")
