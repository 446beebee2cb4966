"""Trust lists for C2PA: data the user points to, never fetched.

A trust folder (`--trust-dir DIR`, or the DEEPFAKE_DETECT_TRUST_DIR environment variable)
holds PEM files and an optional store config:
- `*.pem` whose name contains "allowed": end-entity certificates allowed as they are
  (the CAI interim list's `interim-allowed.pem`);
- every other `*.pem`: trust anchors (e.g. the C2PA trust list and `interim-anchors.pem`);
- `*.cfg`: the extended key usages signers may carry (`interim-store.cfg`).
Without a folder, a signature can be checked for integrity but not its signer: the state
then says "signature intact, signer not checked".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

TRUST_DIR_ENV = "DEEPFAKE_DETECT_TRUST_DIR"
ALLOW_NETWORK_ENV = "DEEPFAKE_DETECT_ALLOW_NETWORK"


@dataclass(frozen=True)
class TrustLists:
    folder: Path
    anchors: str
    allowed: str = ""
    config: str = ""

    @classmethod
    def from_folder(cls, folder: str | Path) -> TrustLists:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise UserError(f"{folder}: no such trust folder (it should hold the C2PA trust lists as .pem files)")
        pems = sorted(folder.glob("*.pem"))
        allowed = [p for p in pems if "allowed" in p.name.lower()]
        anchors = [p for p in pems if p not in allowed]
        if not anchors and not allowed:
            raise UserError(f"{folder}: no .pem trust lists in this folder")
        return cls(
            folder=folder,
            anchors=_joined(anchors),
            allowed=_joined(allowed),
            config=_joined(sorted(folder.glob("*.cfg"))),
        )

    def settings(self) -> dict[str, str]:
        """The `trust` section of c2pa's settings."""
        section = {"trust_anchors": self.anchors}
        if self.allowed:
            section["allowed_list"] = self.allowed
        if self.config:
            section["trust_config"] = self.config
        return section


def _joined(paths: list[Path]) -> str:
    try:
        return "\n".join(p.read_text(encoding="ascii", errors="replace").strip() for p in paths) + ("\n" if paths else "")
    except OSError as exc:
        raise UserError(f"cannot read trust list: {exc}") from None


def trust_from(folder: str | Path | None) -> TrustLists | None:
    """The given folder, else the environment variable's, else None (signers are not checked)."""
    chosen = folder or os.environ.get(TRUST_DIR_ENV) or None
    return TrustLists.from_folder(chosen) if chosen else None


def network_allowed(flag: bool | None) -> bool:
    """Explicit flag, else the environment variable ("1"/"true"/"yes"); off by default."""
    if flag is not None:
        return flag
    return os.environ.get(ALLOW_NETWORK_ENV, "").strip().lower() in {"1", "true", "yes"}
