"""Building a registered backbone with its weights: `create_backbone(name, weights=...)`.

Kept apart from the registry (data about models, importable without torch) and from
`module` (the network types): this is the one place that combines them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import WeightsError
from ..runtime import sha256_of
from .registry import backbone_info

if TYPE_CHECKING:
    from .module import Backbone


def create_backbone(name: str, weights: str | Path | None = "pretrained", seed: int = 0) -> Backbone:
    """Build a registered backbone in eval mode, or raise a one-line `WeightsError`.

    weights: "pretrained" (the usual public source: a warm local cache, else a download),
    "random" (seeded random initialisation, for tests and timing), or a path to a local file.
    """
    import torch  # heavy: imported when a network is built, so listing names stays instant

    from .module import Backbone

    info = backbone_info(name)
    weights = "pretrained" if weights is None else weights
    if not info.needs_weights:
        network, weights_id = info.factory(), "none"
    elif str(weights) == "random":
        torch.manual_seed(seed)
        network, weights_id = info.factory(), f"random-seed{seed}"
    elif str(weights) == "pretrained":
        network, weights_id = _pretrained(name), f"pretrained:{name}"
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file {path} not found (backbone '{name}'; source: {info.weights_source})")
        try:
            network = info.factory(weights_file=path)
        except Exception as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise WeightsError(f"{path}: does not fit backbone '{name}': {first_line}") from None
        weights_id = f"sha256:{sha256_of(path)[:16]}"
    return Backbone(info, network, weights_id).eval()


def _pretrained(name: str):
    """The factory's public weights. Factories raise `WeightsError` themselves when the source
    cannot be reached (see `download`); anything else a download throws becomes one line too."""
    info = backbone_info(name)
    try:
        return info.factory(pretrained=True)
    except WeightsError:
        raise
    except Exception as exc:  # hub, HTTP or cache failures of many kinds
        raise WeightsError(
            f"backbone '{name}' could not fetch its pretrained weights ({type(exc).__name__}); "
            f"download them yourself and pass --weights PATH. Source: {info.weights_source}"
        ) from None
