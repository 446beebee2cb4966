"""One verdict from all the evidence: signed declarations, weak metadata, and the pixel score.

`RULES` is read top to bottom; the first rule that applies gives the verdict. Weak evidence
(unsigned metadata, an untrusted-but-intact credential, a watermark) can be forged or left by
an upscaler, so it raises the pixel probability by a bounded log-odds amount (capped: never
certainty) and makes the verdict "likely generated". No rule ever says "real": below the
threshold, with no metadata, the pixel model has simply not found anything, and on generators
it never saw it misses most fakes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .findings import Provenance, Signal


class Verdict(str, Enum):
    GENERATED_DECLARED = "generated (declared)"
    EDITED_DECLARED = "edited with AI (declared)"
    CHANGED_AFTER_SIGNING = "changed after signing"
    CAMERA_SIGNED = "camera-signed capture"
    LIKELY_GENERATED = "likely generated"
    NO_EVIDENCE = "no evidence found"


VERDICT_MEANINGS: dict[Verdict, str] = {
    Verdict.GENERATED_DECLARED: "a trusted Content Credential (or verified generator signature) declares the image generated",
    Verdict.EDITED_DECLARED: "a trusted Content Credential declares generated parts in an edited image",
    Verdict.CHANGED_AFTER_SIGNING: "a Content Credential no longer verifies: the file changed after signing, or the signature is bad",
    Verdict.CAMERA_SIGNED: "a trusted Content Credential declares a capture with no AI action (strong evidence, not a guarantee)",
    Verdict.LIKELY_GENERATED: "the pixel score is above the threshold, or unsigned evidence (metadata, an untrusted credential, a watermark) names a generator",
    Verdict.NO_EVIDENCE: "neither the pixels nor the metadata point to a generator; this is not proof of a real photograph",
}

WEAK_LOG_ODDS: dict[str, float] = {"c2pa": 2.0, "metadata": 2.0, "xmp": 1.5, "watermark": 2.5}
"""Log-odds added per source of weak evidence (one per source, however many findings it gave)."""
MAX_WEAK_LOG_ODDS = 4.0
"""Cap on the sum: weak evidence alone moves a 50% pixel score to at most 98%."""
PROBABILITY_FLOOR = 1e-4
"""Pixel probabilities are clipped to [floor, 1 - floor] before log-odds are added."""


@dataclass(frozen=True)
class Evidence:
    """What a rule looks at."""

    provenance: Provenance
    probability: float | None
    threshold: float

    @property
    def pixels_flag(self) -> bool:
        return self.probability is not None and self.probability > self.threshold

    def trusted(self, signal: Signal) -> bool:
        return bool(self.provenance.having(signal, trusted=True))


@dataclass(frozen=True)
class Rule:
    verdict: Verdict
    applies: Callable[[Evidence], bool]


RULES: tuple[Rule, ...] = (
    Rule(Verdict.CHANGED_AFTER_SIGNING, lambda e: bool(e.provenance.having(Signal.TAMPERED))),
    Rule(Verdict.GENERATED_DECLARED, lambda e: e.trusted(Signal.GENERATED)),
    Rule(Verdict.EDITED_DECLARED, lambda e: e.trusted(Signal.EDITED)),
    Rule(Verdict.CAMERA_SIGNED, lambda e: e.trusted(Signal.CAPTURE) and not e.provenance.weak_ai),
    Rule(Verdict.LIKELY_GENERATED, lambda e: bool(e.provenance.weak_ai) or e.pixels_flag),
    Rule(Verdict.NO_EVIDENCE, lambda e: True),
)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    combined: float | None
    """The pixel probability raised by weak evidence (bounded); equal to it when there is none;
    None when the pixels were not scored."""
    evidence: str
    """Short human text: what the verdict rests on."""


def decide(probability: float | None, threshold: float, provenance: Provenance | None = None) -> Decision:
    """The verdict for one image: `probability` from the pixel detector (finite), or None when
    the pixels could not be scored (e.g. a 1x1 crop that still carries its generator's text)."""
    if probability is not None and not math.isfinite(probability):
        raise ValueError("no verdict from a non-finite probability")
    provenance = provenance or Provenance()
    evidence = Evidence(provenance, probability, threshold)
    verdict = next(rule.verdict for rule in RULES if rule.applies(evidence))
    combined = None if probability is None else raised_probability(probability, provenance)
    return Decision(verdict, combined, evidence_text(provenance, probability, threshold, combined))


def raised_probability(probability: float, provenance: Provenance) -> float:
    """sigmoid(logit(p) + min(cap, sum of one weight per weak source)); p itself when no weak evidence."""
    sources = {f.source for f in provenance.weak_ai}
    bonus = min(MAX_WEAK_LOG_ODDS, sum(WEAK_LOG_ODDS.get(s, 1.0) for s in sources))
    if bonus == 0:
        return probability
    p = min(max(probability, PROBABILITY_FLOOR), 1 - PROBABILITY_FLOOR)
    return max(probability, 1 / (1 + math.exp(-(math.log(p / (1 - p)) + bonus))))


ORDER = (Signal.TAMPERED, Signal.GENERATED, Signal.EDITED, Signal.CAPTURE, Signal.INFO, Signal.PROBLEM)


def evidence_text(provenance: Provenance, probability: float | None, threshold: float, combined: float | None) -> str:
    """The findings' sentences (strongest first), then what the pixels said."""
    findings = sorted(provenance.findings, key=lambda f: (ORDER.index(f.signal), not f.trusted))
    parts = [f.text for f in findings]
    if probability is None:
        return "; ".join(parts + ["pixels: not scored"])
    relation = "above" if probability > threshold else "below"
    pixels = f"pixels: {probability:.0%}, {relation} the {threshold:.0%} threshold"
    if combined is not None and combined > probability:
        pixels += f" ({combined:.0%} with the unsigned evidence)"
    if not findings:
        parts.append("no provenance data")
    return "; ".join(parts + [pixels])
