"""Approach 1: fine-tune an ImageNet-pretrained CNN end to end (`deepfake-detect finetune`).

`run_finetune(FinetuneConfig(...))` trains, exports RUN_DIR/detector/ through
`detector.folder`, and evaluates that detector with the grid's protocols through `Detector`.
Load the exported detector with `deepfake_detect.detector.Detector.load`. The network itself
is `deepfake_detect.backbones.finetuned.FinetuneNetwork`. Names are resolved on first use, so
the command line does not pull in more than it needs.
"""

from importlib import import_module

_EXPORTS = {
    "FinetuneConfig": "config",
    "FinetuneResult": "train",
    "run_finetune": "train",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
