"""Backbones: `create_backbone(name, weights=...)`. One file per family; importing this
package registers them all. A new backbone is a decorated factory in a family file.

Layers inside: `registry` (data about models, no torch) <- family files and `module` (the
network types) <- `create` (a registered model built with its weights).
"""

import lazy_loader as lazy

from ..errors import WeightsError
from . import color, efficientnet_lite, patch_entries, residual, spectrum, timm_models  # noqa: F401  (registration)
from .create import create_backbone
from .registry import BackboneInfo, backbone_info, check_arch, list_backbones, list_finetunable

__all__ = [
    "Backbone", "BackboneInfo", "WeightsError", "backbone_info", "check_arch", "create_backbone", "list_backbones",
    "list_finetunable",
]


# the nn.Module type, imported with torch only when asked for
__getattr__ = lazy.attach(__name__, submod_attrs={"module": ["Backbone"]})[0]
