"""The XMP packet: IPTC `DigitalSourceType` and `xmp:CreatorTool` (JPEG, PNG, WebP, TIFF, HEIC).

Read with regular expressions over the first MAX_XMP_BYTES of the packet, never an XML
parser: a crafted packet can then neither expand entities nor take unbounded time, and a
50 MB packet costs one bounded scan and a finding saying only its start was read.
"""

from __future__ import annotations

import re
from typing import Any

from .findings import Finding, Signal
from .sources import source_signal

MAX_XMP_BYTES = 1 << 20
SOURCE_TYPE = re.compile(r"digitalsourcetype/([A-Za-z]{3,64})|DigitalSourceType\s*=\s*[\"']([A-Za-z]{3,64})[\"']")
CREATOR_TOOL = re.compile(r"CreatorTool\s*=\s*[\"']([^\"'<>]{1,200})[\"']|CreatorTool>([^<]{1,200})</")
TIFF_XMP_TAG = 700


def xmp_packet(image: Any) -> bytes | None:
    """The raw packet from wherever Pillow put it for this format."""
    for key in ("xmp", "XML:com.adobe.xmp"):
        value = image.info.get(key)
        if value:
            return value.encode("utf-8", "replace") if isinstance(value, str) else bytes(value)
    tags = getattr(image, "tag_v2", None)
    if tags is not None and TIFF_XMP_TAG in tags:
        value = tags[TIFF_XMP_TAG]
        return value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
    return None


def read_xmp(image: Any) -> tuple[list[Finding], dict[str, str]]:
    """(findings, text fields for the generator table: `xmp:CreatorTool`)."""
    packet = xmp_packet(image)
    if not packet:
        return [], {}
    findings: list[Finding] = []
    if len(packet) > MAX_XMP_BYTES:
        findings.append(Finding(
            "xmp", Signal.PROBLEM,
            f"XMP: packet of {len(packet) / 2**20:.1f} MB is over the {MAX_XMP_BYTES >> 20} MB read limit; only its start was read",
            details={"bytes": len(packet)},
        ))
    text = packet[:MAX_XMP_BYTES].decode("utf-8", "replace")
    terms = list(dict.fromkeys(a or b for a, b in SOURCE_TYPE.findall(text)))
    for term in terms:
        signal = source_signal(term)
        if signal in (Signal.GENERATED, Signal.EDITED):
            verb = "generated" if signal is Signal.GENERATED else "edited with AI"
            findings.append(Finding("xmp", signal, f"XMP: IPTC digital source type {term} ({verb}; unsigned)",
                                    details={"digital_source_type": term}))
        else:
            findings.append(Finding("xmp", Signal.INFO, f"XMP: IPTC digital source type {term} (unsigned)",
                                    details={"digital_source_type": term}))
    tools = [a or b for a, b in CREATOR_TOOL.findall(text)]
    fields = {"xmp:CreatorTool": tools[0].strip()} if tools else {}
    return findings, fields
