"""Features: streaming extraction from a backbone into an on-disk cache."""

from .cache import CACHE_ENV, FeatureCache, FeatureSpace, default_cache_dir
from .extract import ExtractionReport, extract_features, feature_space, load_features
from .fusion import FusedSpace, PartScaler

__all__ = [
    "CACHE_ENV",
    "FeatureCache",
    "FeatureSpace",
    "default_cache_dir",
    "ExtractionReport",
    "extract_features",
    "feature_space",
    "load_features",
    "FusedSpace",
    "PartScaler",
]
