"""Approach 1: fine-tune an ImageNet-pretrained CNN end to end (`deepfake-detect finetune`).

`run_finetune(FinetuneConfig(...))` trains, exports RUN_DIR/detector/ through
`detector.folder`, and evaluates that detector with the grid's protocols through `Detector`.
Load the exported detector with `deepfake_detect.detector.Detector.load`. The network itself
is `deepfake_detect.backbones.finetuned.FinetuneNetwork`. Names are resolved on first use, so
the command line does not pull in more than it needs.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(__name__, submod_attrs={
    "config": ["FinetuneConfig"],
    "train": ["FinetuneResult", "run_finetune"],
})
