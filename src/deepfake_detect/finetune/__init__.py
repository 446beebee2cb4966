"""Approach 1: fine-tune an ImageNet-pretrained CNN end to end (`deepfake-detect finetune`).

`run_finetune(FinetuneConfig(...))` trains, evaluates with the grid's protocols and writes
RUN_DIR/detector/ (safetensors + manifest.json); `load_finetuned(dir)` reads it back.
Training code is imported lazily, so loading a detector does not pull in the trainer.
"""

from .network import FINETUNE_ARCHS, FinetuneNetwork, build_finetune_network, fake_probability, load_finetuned

__all__ = [
    "FINETUNE_ARCHS", "FinetuneNetwork", "build_finetune_network", "fake_probability", "load_finetuned",
    "FinetuneConfig", "FinetuneResult", "run_finetune",
]


def __getattr__(name: str):
    if name in {"FinetuneConfig", "FinetuneResult", "run_finetune"}:
        from . import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
