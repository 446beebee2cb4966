"""Few-shot adaptation: update a trained network detector with k images of a new generator.

`adapt_detector` fine-tunes a detector folder of kind "finetune" or "reference" on k fakes
(and k reals when given) for a few seeded steps and writes a new folder; `few_shot_curve`
measures AUC on a held-out generator against k, into a run folder the report reads.
"""

from .curve import few_shot_curve
from .network import ADAPTABLE_KINDS, AdaptSettings, Adapted, adapt_detector

__all__ = ["ADAPTABLE_KINDS", "AdaptSettings", "Adapted", "adapt_detector", "few_shot_curve"]
