"""CLIP backbones: ``arch:weights`` names -> open_clip models with their preprocessing.

Public API: ``parse_backbone_name``, ``BackboneSpec``, ``create_backbone``, ``Backbone``,
``list_architectures``, ``BACKBONES`` (the registry of architectures with shipped weights;
``PROJECT_BACKBONES`` is its old name).

The torch-side names (``create_backbone``, ``Backbone``) are imported on first access, so a
plug-in that only declares a :class:`ProjectBackbone` imports no torch.
"""

from typing import Any

from dfad_bench.backbones.spec import (
    BACKBONES,
    PROJECT_BACKBONES,
    BackboneSpec,
    ProjectBackbone,
    list_architectures,
    parse_backbone_name,
    register_project_configs,
)

__all__ = [
    "BACKBONES",
    "PROJECT_BACKBONES",
    "Backbone",
    "BackboneSpec",
    "ProjectBackbone",
    "create_backbone",
    "list_architectures",
    "parse_backbone_name",
    "register_project_configs",
]


def __getattr__(name: str) -> Any:
    if name in ("Backbone", "create_backbone"):
        from dfad_bench.backbones import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'dfad_bench.backbones' has no attribute {name!r}")
