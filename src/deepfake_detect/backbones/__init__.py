"""Backbones: `create_backbone(name, weights=...)`. One file per family; importing this
package registers them all. A new backbone is a decorated factory in a family file."""

from . import efficientnet_lite, spectrum, timm_models  # noqa: F401  (registration)
from .registry import (
    Backbone,
    BackboneInfo,
    WeightsError,
    backbone_info,
    create_backbone,
    list_backbones,
)

__all__ = ["Backbone", "BackboneInfo", "WeightsError", "backbone_info", "create_backbone", "list_backbones"]
