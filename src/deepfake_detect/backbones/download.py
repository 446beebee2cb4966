"""Pretrained weights from the network: a warm local cache first, else one quick check that the
source can be reached before anything is downloaded.

Offline, the download libraries retry for about a minute and print a screen of warnings
before they give up (huggingface_hub: five retries for each of two candidate files). A user
without a network needs one line saying which file to get, at once. So before a download,
one TCP connection to the source's host is tried with a short timeout (and none at all when
huggingface_hub's own offline switch, HF_HUB_OFFLINE, is on); when it fails, `WeightsError`
names the file and its URL. A file already in the local cache is loaded without any network.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import WeightsError

PROBE_SECONDS = 3.0
"""Long enough for a slow but working connection, short enough not to look hung."""
HUB_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
"""What timm fetches from a hub repository, in its order (safetensors first)."""


def hub_endpoint() -> str:
    """The Hugging Face endpoint in use (HF_ENDPOINT, read by huggingface_hub at import)."""
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def hub_offline() -> bool:
    """huggingface_hub's offline switch, whether set before its import or since."""
    from huggingface_hub import constants

    return constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}


def hub_file_url(repo_id: str, filename: str = HUB_WEIGHT_FILES[0]) -> str:
    return f"{hub_endpoint()}/{repo_id}/resolve/main/{filename}"


def cached_hub_file(repo_id: str, filenames: tuple[str, ...] = HUB_WEIGHT_FILES) -> Path | None:
    """A weights file of `repo_id` already in the local hub cache, or None."""
    from huggingface_hub import constants, try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=constants.HF_HUB_CACHE)
        if isinstance(found, str):
            return Path(found)
    return None


def hub_checkpoints() -> Path:
    """torch.hub's weights cache ($TORCH_HOME/hub/checkpoints), shared with other tools."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def download_file(url: str, target: Path) -> Path:
    """The one downloader (backbones and generators): `url` into `target` through torch.hub's,
    which streams to a temporary file and renames it, so a broken download never leaves a torn
    file. Network errors (`urllib.error.URLError`, `OSError`) are the caller's to word."""
    import torch.hub

    target.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(target))
    return target


def url_weights(backbone: str, url: str) -> Path:
    """The weights file at `url`, from torch.hub's cache (where `torch.hub.load_state_dict_from_url`
    keeps it too), downloaded there first if need be."""
    path = hub_checkpoints() / Path(urlsplit(url).path).name
    if not path.is_file():
        require_reachable(url, backbone)
        download_file(url, path)
    return path


def require_reachable(url: str, backbone: str, alternative: str = "", offline: bool = False) -> None:
    """Return if `url`'s host answers a TCP connection within `PROBE_SECONDS`; else raise the
    one-line `WeightsError` naming the file to download by hand (`url`, or `alternative`)."""
    parts = urlsplit(url)
    host = parts.hostname or url
    if offline:
        reason = "HF_HUB_OFFLINE is set"
    else:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((host, port), timeout=PROBE_SECONDS):
                return
        except OSError as exc:
            reason = f"{host} cannot be reached ({exc.strerror or exc or type(exc).__name__})"
    instead = f" (or {alternative})" if alternative else ""
    raise WeightsError(
        f"backbone '{backbone}' needs its pretrained weights, but {reason}: "
        f"download {url}{instead} and pass --weights PATH"
    )
