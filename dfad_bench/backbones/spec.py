"""Backbone names: ``arch:weights`` parsed into a small typed spec (architecture apart from weights).

Three sources, one parser (so a path is never mistaken for a hub tag and vice versa):

- ``ViT-B-16:openai``            hub: an open_clip pretrained tag of a built-in architecture;
- ``ViT-B-16:/path/w.safetensors`` local: a checkpoint file for an open_clip architecture;
- ``clip-mini``                  project: an architecture + weights registered in :data:`BACKBONES`
  (by DFAD-Mini or an outside package, through the ``dfad_bench.backbones`` entry-point group;
  ``clip-mini:/path/w.safetensors`` loads other weights for the same architecture).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dfad_bench.errors import DfadError
from dfad_bench.registry import BACKBONE_ENTRY_POINT_GROUP, Registry, did_you_mean, instance_check

SourceKind = Literal["hub", "local", "project"]

_WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")


@dataclass(frozen=True)
class ProjectBackbone:
    """An architecture with shipped weights, registered under its ``arch`` name (DFAD-Mini's
    ``clip-mini``, or an outside package's): an open_clip JSON config named ``<arch>.json`` and
    a weights file. ``pretrain_command`` says how to (re)create missing weights."""

    arch: str
    config: Path
    weights: Path
    pretrain_command: str = ""


def _check_backbone(name: str, obj: object) -> ProjectBackbone:
    obj = instance_check(ProjectBackbone, key="arch")(name, obj)
    if Path(obj.config).name != f"{name}.json":
        # open_clip names a model after its config file's stem
        raise ValueError(f"config must be a file named {name}.json, got {obj.config}")
    return obj


#: Architectures with shipped weights, by name; filled through the ``dfad_bench.backbones``
#: entry-point group (DFAD-Mini registers ``clip-mini`` there, as an outside package would).
BACKBONES: Registry[ProjectBackbone] = Registry("backbone", BACKBONE_ENTRY_POINT_GROUP, check=_check_backbone)
PROJECT_BACKBONES = BACKBONES  # the old name


def list_backbones() -> list[dict[str, object]]:
    """Rows for ``list backbones`` (hub architectures are open_clip's: ``arch:tag``)."""

    def row(_name: str, backbone: ProjectBackbone) -> dict[str, object]:
        present = Path(backbone.weights).is_file()
        return {"weights": str(backbone.weights) if present else f"missing: {backbone.weights}"}

    return BACKBONES.describe(row)


def check_weights_file(spec: BackboneSpec) -> Path:
    """The local weights file of a non-hub spec, or a DfadError saying how to create it."""
    path = Path(spec.weights)
    if not path.is_file():
        project = BACKBONES.find(spec.arch) if spec.source == "project" else None
        hint = f"; create it with: {project.pretrain_command}" if project and project.pretrain_command else ""
        raise DfadError(f"backbone {spec.name}: weights file not found: {path}{hint}")
    return path


@dataclass(frozen=True)
class BackboneSpec:
    """What to build: an open_clip architecture and where its weights come from.

    ``weights`` is a normalised open_clip tag for ``source='hub'`` and an absolute file path otherwise.
    """

    arch: str
    weights: str
    source: SourceKind

    @property
    def name(self) -> str:
        """The canonical name; ``parse_backbone_name(spec.name) == spec``."""
        if self.source == "project" and self.arch in BACKBONES:
            return self.arch
        return f"{self.arch}:{self.weights}"


_configs_added: set[str] = set()


def register_project_configs() -> None:
    """Make every registered backbone's JSON config known to open_clip (idempotent; a backbone
    registered later is added on the next call; a broken plug-in is skipped here and fails
    loudly when used)."""
    import open_clip

    for name in BACKBONES.names():
        if name in _configs_added:
            continue
        try:
            backbone = BACKBONES.get(name)
        except DfadError:
            continue
        open_clip.add_model_config(backbone.config)
        _configs_added.add(name)


def list_architectures() -> list[str]:
    """open_clip's built-in architectures plus the registered ones."""
    register_project_configs()
    import open_clip

    return sorted(set(open_clip.list_models()) | set(BACKBONES.names()))


def list_hub_tags(arch: str) -> list[str]:
    import open_clip

    return list(open_clip.list_pretrained_tags_by_model(arch))


def is_path_like(text: str) -> bool:
    """A weights part that names a file: has a separator, starts like a path, or has a weights suffix."""
    return (
        "/" in text
        or "\\" in text
        or text.startswith((".", "~"))
        or text.lower().endswith(_WEIGHT_SUFFIXES)
    )


def _close(word: str, options: list[str]) -> str:
    return did_you_mean(word, options, cutoff=0.5)


def _local_weights(name: str, weights: str) -> str:
    path = Path(weights).expanduser()
    if not path.is_file():
        raise DfadError(f"backbone {name!r}: weights file not found: {path.resolve()}")
    return str(path.resolve())


def parse_backbone_name(name: str) -> BackboneSpec:
    """Parse ``arch:tag``, ``arch:/path/to/weights`` or a project name into a :class:`BackboneSpec`.

    Raises DfadError (one line) for an unknown architecture (with close matches), an unknown tag
    (with the known ones), a missing weights file, or an architecture without weights.
    """
    if not isinstance(name, str) or not name.strip():
        raise DfadError(f"backbone name must be a non-empty string like 'ViT-B-16:openai', got {name!r}")
    name = name.strip()
    arch, sep, weights = name.partition(":")
    arch, weights = arch.strip(), weights.strip()
    archs = list_architectures()
    if arch not in archs:
        raise DfadError(
            f"backbone {name!r}: unknown architecture {arch!r}{_close(arch, archs)} "
            "(expected an open_clip model name such as 'ViT-B-16', or 'clip-mini')"
        )
    project = BACKBONES.find(arch)
    if project is not None:
        if not sep:
            return BackboneSpec(arch=arch, weights=str(project.weights), source="project")
        if not weights:
            raise DfadError(f"backbone {name!r}: empty weights part after ':'; write {arch!r} or {arch}:/path/file.safetensors")
        if not is_path_like(weights):
            raise DfadError(
                f"backbone {name!r}: {arch!r} has no hub tags; write {arch!r} for the shipped weights "
                f"or {arch}:/path/file.safetensors"
            )
        return BackboneSpec(arch=arch, weights=_local_weights(name, weights), source="local")
    tags = list_hub_tags(arch)
    if not sep or not weights:
        hint = f"a pretrained tag (one of {tags})" if tags else "a weights file"
        raise DfadError(f"backbone {name!r}: no weights given; write {arch}:<weights> with {hint} or {arch}:/path/file.safetensors")
    if is_path_like(weights):
        return BackboneSpec(arch=arch, weights=_local_weights(name, weights), source="local")
    tag = weights.lower().replace("-", "_")  # open_clip's own tag normalisation
    if tag not in tags:
        known = f"known tags: {tags}{_close(weights, tags)}" if tags else f"{arch!r} has no pretrained tags in open_clip"
        raise DfadError(
            f"backbone {name!r}: unknown pretrained tag {weights!r} for {arch} ({known}); "
            f"a file must look like a path, e.g. ./{weights}.safetensors"
        )
    return BackboneSpec(arch=arch, weights=tag, source="hub")
