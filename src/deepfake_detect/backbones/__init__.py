"""Backbones: `create_backbone(name, weights=...)`. One file per family; importing this
package registers them all. A new backbone is a decorated factory in a family file."""

from . import efficientnet_lite, spectrum, timm_models  # noqa: F401  (registration)
from .registry import (
    BackboneInfo,
    WeightsError,
    backbone_info,
    create_backbone,
    list_backbones,
)

__all__ = ["BackboneInfo", "WeightsError", "backbone_info", "create_backbone", "list_backbones"]


def __getattr__(name: str):
    if name == "Backbone":  # the nn.Module type, imported with torch only when asked for
        from .module import Backbone

        return Backbone
    raise AttributeError(name)
