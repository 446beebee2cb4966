"""Approach 1: fine-tune an ImageNet-pretrained CNN end to end (`deepfake-detect finetune`).

`run_finetune(FinetuneConfig(...))` trains, evaluates with the grid's protocols and writes
RUN_DIR/detector/ (safetensors + manifest.json); `load_finetuned(dir)` reads it back.
Names are resolved on first use, so neither the command line nor a loaded detector pulls
in more than it needs.
"""

from importlib import import_module

_EXPORTS = {
    "FINETUNE_ARCHS": "network",
    "FinetuneNetwork": "network",
    "build_finetune_network": "network",
    "fake_probability": "network",
    "load_finetuned": "network",
    "FinetuneConfig": "train",
    "FinetuneResult": "train",
    "run_finetune": "train",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
