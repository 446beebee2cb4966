"""Provenance evidence: what a file declares about how it was made, read offline.

C2PA Content Credentials (c2pa-python), IPTC/XMP digital source types, generator metadata
(a table, one row per tool), and, with the `watermark` extra, Stable Diffusion's invisible
marks. `decide` turns the findings and the pixel score into one verdict with its reasons.
Core layer: below `detector`, no torch.
"""

from .findings import Finding, Provenance, Signal
from .reader import ProvenanceReader
from .trust import ALLOW_NETWORK_ENV, TRUST_DIR_ENV, TrustLists, trust_from
from .verdict import VERDICT_MEANINGS, Decision, Verdict, decide

__all__ = [
    "ALLOW_NETWORK_ENV", "TRUST_DIR_ENV", "VERDICT_MEANINGS", "Decision", "Finding", "Provenance",
    "ProvenanceReader", "Signal", "TrustLists", "Verdict", "decide", "trust_from",
]
