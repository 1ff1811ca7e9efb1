"""Backbone names: ``arch:weights`` parsed into a small typed spec (architecture apart from weights).

Three sources, one parser (so a path is never mistaken for a hub tag and vice versa):

- ``ViT-B-16:openai``            hub: an open_clip pretrained tag of a built-in architecture;
- ``ViT-B-16:/path/w.safetensors`` local: a checkpoint file for an open_clip architecture;
- ``clip-mini``                  project: an architecture + weights shipped in this repository
  (``clip-mini:/path/w.safetensors`` loads other weights for the same architecture).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dfad_bench.errors import DfadError
from dfad_bench.registry import did_you_mean

SourceKind = Literal["hub", "local", "project"]

_CONFIG_DIR = Path(__file__).parent / "configs"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "mini" / "weights"
_WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")


@dataclass(frozen=True)
class ProjectBackbone:
    """An architecture defined by this project (open_clip JSON config) and its shipped weights."""

    arch: str
    config: Path
    weights: Path
    pretrain_command: str


PROJECT_BACKBONES: dict[str, ProjectBackbone] = {
    "clip-mini": ProjectBackbone(
        arch="clip-mini",
        config=_CONFIG_DIR / "clip-mini.json",
        weights=WEIGHTS_DIR / "clip-mini.safetensors",
        pretrain_command=(
            "python -m dfad_bench.backbones.clip_mini_pretrain --device cuda --time-budget-s 190 --batch-size 512 "
            f"--out {WEIGHTS_DIR}"
        ),
    ),
}


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
        if self.source == "project" and self.arch in PROJECT_BACKBONES:
            return self.arch
        return f"{self.arch}:{self.weights}"


_registered = False


def register_project_configs() -> None:
    """Make the project's JSON configs known to open_clip (idempotent)."""
    global _registered
    if _registered:
        return
    import open_clip

    open_clip.add_model_config(_CONFIG_DIR)
    _registered = True


def list_architectures() -> list[str]:
    """open_clip's built-in architectures plus the project's own."""
    register_project_configs()
    import open_clip

    return sorted(set(open_clip.list_models()) | set(PROJECT_BACKBONES))


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
    project = PROJECT_BACKBONES.get(arch)
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
