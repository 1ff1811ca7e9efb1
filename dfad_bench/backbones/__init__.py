"""CLIP backbones: ``arch:weights`` names -> open_clip models with their preprocessing.

Public API: ``parse_backbone_name``, ``BackboneSpec``, ``create_backbone``, ``Backbone``,
``list_architectures``, ``PROJECT_BACKBONES``.
"""

from dfad_bench.backbones.factory import Backbone, create_backbone
from dfad_bench.backbones.spec import (
    PROJECT_BACKBONES,
    BackboneSpec,
    list_architectures,
    parse_backbone_name,
    register_project_configs,
)

__all__ = [
    "PROJECT_BACKBONES",
    "Backbone",
    "BackboneSpec",
    "create_backbone",
    "list_architectures",
    "parse_backbone_name",
    "register_project_configs",
]
