"""`ProvenanceReader`: all the evidence one file carries, read offline, in bounded time and memory.

The bytes are identified by Pillow from their content (never the suffix) among the formats
this tool decodes; only then do the readers run, each guarded, so a malformed box, a huge
XMP packet or 10,000 text chunks become a PROBLEM finding that says what went wrong and the
folder run goes on. Nothing here imports torch.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from ..data.images import ALLOWED_FORMATS
from ..errors import UserError
from .credentials import CredentialReader
from .findings import Finding, Provenance, Signal
from .metadata import generator_findings, stealth_text, text_fields
from .trust import TrustLists, network_allowed, trust_from
from .watermark import available as watermarks_available
from .watermark import read_watermarks
from .xmp import read_xmp

MAX_FILE_BYTES = 256 * 2**20
"""Larger files are not read for provenance (a finding says so); their pixels are still scored."""


class ProvenanceReader:
    """Reads C2PA, XMP, generator metadata and (with the extra installed) watermarks.

    `trust`: trust lists (a `TrustLists`, a folder, or None: the DEEPFAKE_DETECT_TRUST_DIR
    folder if set, else signers are not checked). `allow_network`: let c2pa fetch remote
    manifests and OCSP answers (default off; DEEPFAKE_DETECT_ALLOW_NETWORK=1 turns it on).
    `watermarks`: decode Stable Diffusion's invisible marks (needs the `watermark` extra; off
    by default: a full-resolution decode costs about as much as the pixel detector).
    """

    def __init__(self, trust: TrustLists | str | Path | None = None, allow_network: bool | None = None,
                 watermarks: bool = False):
        self.trust = trust if isinstance(trust, TrustLists) else trust_from(trust)
        self.allow_network = network_allowed(allow_network)
        self.watermarks = bool(watermarks)
        if self.watermarks and not watermarks_available():
            raise UserError('watermarks need the optional extra: pip install "deepfake-detect[watermark]"')
        self.credentials = CredentialReader(self.trust, self.allow_network)

    def describe(self) -> dict[str, Any]:
        """How files are read, for the page and the JSON output."""
        return {
            "trust_lists": str(self.trust.folder) if self.trust else None,
            "network": self.allow_network,
            "watermarks": self.watermarks,
        }

    def read_path(self, path: str | Path) -> Provenance:
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                return _problem("file", f"file: {size / 2**20:.0f} MB is over the {MAX_FILE_BYTES >> 20} MB provenance limit; not read")
            data = path.read_bytes()
        except OSError as exc:
            return _problem("file", f"file: cannot read ({exc.strerror or exc})")
        return self.read_bytes(data, path.name)

    def read_bytes(self, data: bytes, name: str = "") -> Provenance:
        provenance = Provenance()
        if len(data) > MAX_FILE_BYTES:
            return _problem("file", f"file: over the {MAX_FILE_BYTES >> 20} MB provenance limit; not read")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except Exception as exc:  # any decoder complaint: the pixel stage words its own error
            return _problem("file", f"file: not an image this tool reads ({type(exc).__name__})")
        provenance.format = image.format
        with image:
            _check_suffix(name, image.format, provenance)
            fields: dict[str, str] = {}
            guarded(provenance, "metadata", lambda: fields.update(text_fields(image)))
            guarded(provenance, "xmp", lambda: _xmp(image, provenance, fields))
            guarded(provenance, "metadata", lambda: _stealth(image, fields))
            guarded(provenance, "metadata", lambda: provenance.extend(generator_findings(fields)))
            guarded(provenance, "c2pa", lambda: provenance.extend(self.credentials.read(data, image.format)))
            if self.watermarks:
                guarded(provenance, "watermark", lambda: provenance.extend(read_watermarks(image)))
        return provenance


def guarded(provenance: Provenance, source: str, step: Callable[[], Any]) -> None:
    """Run one reader; whatever it raises becomes a PROBLEM finding naming the reader."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            step()
    except MemoryError:
        provenance.add(Finding(source, Signal.PROBLEM, f"{source}: too large to read"))
    except Exception as exc:
        message = " ".join(str(exc).split())[:160]
        provenance.add(Finding(source, Signal.PROBLEM, f"{source}: could not be read ({type(exc).__name__}: {message})",
                               details={"error": f"{type(exc).__name__}: {exc}"[:1000]}))


def _xmp(image: Any, provenance: Provenance, fields: dict[str, str]) -> None:
    findings, xmp_fields = read_xmp(image)
    provenance.extend(findings)
    fields.update(xmp_fields)


def _stealth(image: Any, fields: dict[str, str]) -> None:
    text = stealth_text(image)
    if text:
        fields["stealth"] = text


def _check_suffix(name: str, fmt: str | None, provenance: Provenance) -> None:
    suffix = Path(name).suffix.lower()
    expected = Image.registered_extensions().get(suffix)
    if expected and fmt and expected != fmt and {expected, fmt} != {"HEIF", "AVIF"}:
        provenance.add(Finding("file", Signal.PROBLEM,
                               f"file: the name says {suffix} but the bytes are {fmt}; read as {fmt}",
                               details={"suffix": suffix, "format": fmt}))


def _problem(source: str, text: str) -> Provenance:
    return Provenance([Finding(source, Signal.PROBLEM, text)])
