"""C2PA Content Credentials through c2pa-python, offline unless the user allows the network.

Every manifest in the store is walked, not only the active one: ChatGPT's DALL-E claim sits in
an ingredient, Photoshop's generative fill in the active manifest over a Firefly ingredient.
What the file is comes from the active manifest and the parent it was opened from
(`parentOf`); a generated *component* makes it edited, not generated.
"""

from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

from .findings import Finding, Signal
from .sources import source_signal, source_term
from .trust import TrustLists

C2PA_FORMATS: dict[str, str] = {
    "JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff",
    "HEIF": "image/heic", "GIF": "image/gif",
}
"""Pillow's format name -> the MIME type handed to c2pa: only containers the bytes were seen
to be (never the suffix), so a crafted file reaches the native reader as what it is."""

STATE_WORDS = {
    "Trusted": "trusted",
    "Valid": "signature intact, signer not on the trust lists",
    "Invalid": "INVALID: changed after signing or bad signature",
}
UNCHECKED = "signature intact, signer not checked: no trust list given"
MAX_DEPTH = 16


@dataclass
class CredentialReader:
    """One c2pa Context (settings: trust lists, no network) shared by every read."""

    trust: TrustLists | None = None
    allow_network: bool = False

    def __post_init__(self) -> None:
        self._context = None
        self._lock = threading.Lock()

    def settings(self) -> dict[str, Any]:
        verify = {
            "remote_manifest_fetch": self.allow_network,
            "ocsp_fetch": self.allow_network,
            "verify_trust": self.trust is not None,
        }
        settings: dict[str, Any] = {"verify": verify}
        if self.trust is not None:
            settings["trust"] = self.trust.settings()
        return settings

    def context(self):
        with self._lock:
            if self._context is None:
                import c2pa

                self._context = c2pa.Context.from_dict(self.settings())
            return self._context

    def read(self, data: bytes, fmt: str) -> list[Finding]:
        """Findings from the manifest store in `data` (a `fmt` container); [] when there is none."""
        import c2pa

        mime = C2PA_FORMATS.get(fmt)
        if mime is None:
            return []
        try:
            with c2pa.Reader(mime, io.BytesIO(data), context=self.context()) as reader:
                store = json.loads(reader.json())
        except c2pa.C2paError.ManifestNotFound:
            return []
        except c2pa.C2paError as exc:  # the remote case arrives as a plain C2paError "Remote: ..."
            remote = isinstance(exc, c2pa.C2paError.RemoteManifest) or str(exc).startswith("Remote")
            return [_remote(str(exc), self.allow_network) if remote else _unreadable(str(exc))]
        except (ValueError, OSError) as exc:
            return [_unreadable(f"{type(exc).__name__}: {exc}")]
        return findings_of(store, checked=self.trust is not None)


def _remote(message: str, allowed: bool) -> Finding:
    found = re.search(r"https?://[^\s()\"']+", message)
    url = found.group(0) if found else None
    why = "could not be fetched" if allowed else "not fetched: the network is not allowed (--allow-network)"
    return Finding("c2pa", Signal.PROBLEM, f"C2PA: manifest stored remotely ({url or 'no URL'}), {why}",
                   details={"error": message, "remote_url": url})


def _unreadable(message: str) -> Finding:
    return Finding("c2pa", Signal.PROBLEM, f"C2PA: credential present but unreadable ({_short(message)})",
                   details={"error": message})


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the manifest store -----------------------------------------------------------------------


def findings_of(store: dict[str, Any], checked: bool) -> list[Finding]:
    """The finding for the file (what it is, who declared it, in what state) and, when the
    credential is Invalid, a TAMPERED finding with the failure codes."""
    manifests: dict[str, dict] = store.get("manifests") or {}
    active_label = store.get("active_manifest")
    state = store.get("validation_state") or "Invalid"
    summaries = {label: summarize(label, m) for label, m in manifests.items()}
    active = manifests.get(active_label or "")
    signal, origin = classify(active_label, manifests, 0) if active else (Signal.INFO, None)
    trusted = state == "Trusted"
    declarer = _signer(_holding(origin, manifests) or active) if active else None
    tool = (_agent(origin) if origin else None) or _generator(active)
    words = STATE_WORDS.get(state, state) if (checked or state == "Invalid") else UNCHECKED
    what = {
        Signal.GENERATED: f"generated by {tool}",
        Signal.EDITED: f"edited with AI ({tool})",
        Signal.CAPTURE: f"captured ({tool})",
    }.get(signal, f"made with {tool or 'unknown software'}, no AI action declared")
    verb = "signed" if signal is Signal.INFO else "declared"
    history = _history(active_label, summaries)
    details = {"state": state, "active_manifest": active_label, "manifests": list(summaries.values()),
               "failures": _failures(store)}
    findings = [Finding(
        "c2pa", signal, f"C2PA: {what}, {verb} by {declarer or 'unknown signer'} ({words}){history}",
        trusted=trusted, tool=tool, declarer=declarer, state=state, details=details,
    )]
    if state == "Invalid":
        codes = ", ".join(sorted({f["code"] or "?" for f in details["failures"]})) or "no failure code"
        findings.append(Finding("c2pa", Signal.TAMPERED, f"C2PA: credential does not verify ({codes})",
                                declarer=declarer, state=state, details={"failures": details["failures"]}))
    return findings


def classify(label: str | None, manifests: dict[str, dict], depth: int) -> tuple[Signal, dict | None]:
    """(what the asset of manifest `label` is, the action that says so)."""
    manifest = manifests.get(label or "")
    if manifest is None or depth > MAX_DEPTH:
        return Signal.INFO, None
    own = [(source_signal(a.get("digitalSourceType")), a) for a in actions_of(manifest)]
    generated = [a for s, a in own if s is Signal.GENERATED]
    if generated:
        return Signal.GENERATED, generated[0]
    parents, components = [], []
    for ingredient in manifest.get("ingredients") or []:
        target = (parents if ingredient.get("relationship") == "parentOf" else components)
        target.append(classify(ingredient.get("active_manifest"), manifests, depth + 1))
    if any(s is Signal.GENERATED for s, _ in parents):
        return next((s, a) for s, a in parents if s is Signal.GENERATED)
    edited = [a for s, a in own if s is Signal.EDITED]
    if edited:
        return Signal.EDITED, edited[0]
    inherited = [(s, a) for s, a in parents + components if s in (Signal.EDITED, Signal.GENERATED)]
    if inherited:
        return Signal.EDITED, inherited[0][1]
    captured = [a for s, a in own if s is Signal.CAPTURE] + [a for s, a in parents if s is Signal.CAPTURE]
    if captured:
        return Signal.CAPTURE, captured[0]
    return Signal.INFO, None


def _holding(action: dict | None, manifests: dict[str, dict]) -> dict | None:
    """The manifest whose assertions hold `action`: its signer is the one who declared it."""
    if action is None:
        return None
    return next((m for m in manifests.values() if any(a is action for a in actions_of(m))), None)


def actions_of(manifest: dict) -> list[dict]:
    found = []
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            actions = (assertion.get("data") or {}).get("actions") or []
            found += [a for a in actions if isinstance(a, dict)]
    return found


def _agent(action: dict) -> str | None:
    agent = action.get("softwareAgent")
    if isinstance(agent, dict):
        agent = agent.get("name")
    return str(agent) if agent else None


def _generator(manifest: dict | None) -> str | None:
    if not manifest:
        return None
    info = manifest.get("claim_generator_info") or []
    if info and isinstance(info[0], dict) and info[0].get("name"):
        version = info[0].get("version")
        return f"{info[0]['name']} {version}" if version else str(info[0]["name"])
    generator = manifest.get("claim_generator")
    return str(generator).split()[0].replace("_", " ") if generator else None


def _signer(manifest: dict | None) -> str | None:
    info = (manifest or {}).get("signature_info") or {}
    return info.get("issuer") or info.get("common_name")


def summarize(label: str, manifest: dict) -> dict[str, Any]:
    """The structured record of one manifest for JSON output."""
    info = manifest.get("signature_info") or {}
    return {
        "label": label,
        "claim_generator": _generator(manifest),
        "signer": info.get("issuer"),
        "signer_name": info.get("common_name"),
        "signed": info.get("time"),
        "title": manifest.get("title"),
        "actions": [
            {"action": a.get("action"), "software_agent": _agent(a),
             "digital_source_type": source_term(a.get("digitalSourceType"))}
            for a in actions_of(manifest)
        ],
        "ingredients": [
            {"title": i.get("title"), "relationship": i.get("relationship"), "manifest": i.get("active_manifest")}
            for i in manifest.get("ingredients") or []
        ],
    }


def _history(active: str | None, summaries: dict[str, dict]) -> str:
    """"; ingredient generated by Adobe Firefly" when an ingredient says more than the active manifest."""
    notes = []
    for label, summary in summaries.items():
        if label == active:
            continue
        for action in summary["actions"]:
            signal = source_signal(action["digital_source_type"])
            if signal in (Signal.GENERATED, Signal.EDITED):
                verb = "generated" if signal is Signal.GENERATED else "edited with AI"
                notes.append(f"ingredient {verb} by {action['software_agent'] or summary['claim_generator']}")
    return ("; " + "; ".join(dict.fromkeys(notes))) if notes else ""


def _failures(store: dict) -> list[dict]:
    results = store.get("validation_results") or {}
    failures = list((results.get("activeManifest") or {}).get("failure") or [])
    for delta in results.get("ingredientDeltas") or []:
        failures += ((delta.get("validationDeltas") or {}).get("failure") or [])
    return [{"code": f.get("code"), "explanation": f.get("explanation")} for f in failures if isinstance(f, dict)]
