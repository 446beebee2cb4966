"""k-nearest-neighbour classifiers with cosine distance.

As UniversalFakeDetect's nearest-neighbour variant: foundation-model embeddings encode
content in their direction more than their norm, so neighbours are found by cosine
distance on the raw features. No per-feature scaling, which would re-weight dimensions
and change which images count as near.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sklearn is imported when a classifier is built, not when names are listed
    from sklearn.pipeline import Pipeline

from .registry import CLASSIFIER_STEP, register_classifier


def _cosine_knn(n_neighbors: int) -> Pipeline:
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline

    # brute force is the only exact algorithm that supports the cosine metric.
    classifier = KNeighborsClassifier(n_neighbors=n_neighbors, metric="cosine", algorithm="brute", n_jobs=1)
    return Pipeline([(CLASSIFIER_STEP, classifier)])


@register_classifier()
def knn1() -> Pipeline:
    """The single nearest training image decides (cosine, uniform weights).

    Its fake score is 0 or 1, so ranking metrics (AP, AUC) see only one threshold.
    """
    return _cosine_knn(1)


@register_classifier()
def knn3() -> Pipeline:
    """Majority of the 3 nearest training images (cosine, uniform weights)."""
    return _cosine_knn(3)


@register_classifier()
def knn5() -> Pipeline:
    """Majority of the 5 nearest training images (cosine, uniform weights)."""
    return _cosine_knn(5)
