"""run.json: what a run was (seeds, preprocessing), where it ran, and what went wrong on the way."""

from __future__ import annotations

from datetime import datetime, timezone

from ..grid.config import GridConfig
from ..runtime import best_device, cpu_cores, versions


def run_info(config: GridConfig, seconds: float, bad_files: dict[str, str], warnings: list[str]) -> dict:
    """The run.json record of a grid run."""
    import platform

    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(seconds, 1),
        "seed": config.seed,
        "split_seeds": config.protocols.within.seeds if config.protocols.within else [],
        "preprocess": config.preprocess,
        "versions": versions(),
        "machine": f"{platform.machine()}, {cpu_cores()} cores, {best_device().type.upper()}",
        "unreadable_files": bad_files,
        "shortcut_warnings": warnings,
    }
