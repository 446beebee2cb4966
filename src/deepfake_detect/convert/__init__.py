"""A published detector's checkpoint as a detector folder of kind "reference" (`convert.checkpoint`)."""

from .checkpoint import make_reference_detector

__all__ = ["make_reference_detector"]
