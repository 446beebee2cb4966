"""Re-choosing a saved detector's threshold on the user's own labelled images (`calibrate`)."""

from .threshold import Calibrated, calibrate_detector

__all__ = ["Calibrated", "calibrate_detector"]
