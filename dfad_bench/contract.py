"""The model contract every plug-in honours (docs/ADDING_A_MODEL.md).

scikit-learn-like: ``__init__`` only stores hyper-parameters; ``fit(train, val, ctx)`` returns
self; ``predict(data, ctx)`` returns :class:`Predictions`. The harness — never the model —
splits data, hides test labels, turns scores into decisions with a threshold chosen on val, and
scores predictions. Contract v2: views carry opaque per-run ids and decoded images only (no
paths, folders, sample ids or content hashes); ``fit`` and ``predict(val)`` get a context with
the seen classes only, ``predict(test)`` the full label space.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from dfad_bench.errors import DfadError
from dfad_bench.labels import LabelSpace
from dfad_bench.taxonomy import REAL, Taxonomy

#: What a model may ask the harness for.
KNOWN_INPUTS = ("pixels", "faces", "gaze", "text")
#: Kinds of frozen encoder a model card may declare (``ModelCard.encoders``), each a registry.
ENCODER_KINDS = ("backbone", "gaze")


@dataclass(frozen=True)
class ModelCard:
    """Metadata of a plug-in, importable without heavy modules (listing stays fast).

    ``factory`` is "module:Class"; it is imported only when the model is created.
    """

    name: str
    factory: str
    description: str
    inputs: tuple[str, ...] = ("pixels",)
    open_vocabulary: bool = False
    paper: str = ""
    trained_on: str = "the protocol's train split only"
    default_config: dict[str, Any] = field(default_factory=dict)
    input_size: int | None = None  # square size the harness resizes images to (None: as decoded)
    # Declared types/ranges of options (dfad_bench.config: Int(ge=1), Float(gt=0), ListOf(...));
    # options not named here are typed by their default's type. Checked before any image is read.
    config_schema: dict[str, Any] = field(default_factory=dict)
    # Frozen encoders the model uses: config key -> registry kind (ENCODER_KINDS). The harness
    # checks exactly these names in their registries before a run starts (harness/preflight.py).
    encoders: dict[str, str] = field(default_factory=dict)
    # Overrides for a quick offline smoke run of this model (tests/test_every_model.py): no
    # downloads, small sizes. Never used by `run` or a board; not part of the record's card.
    test_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = set(self.inputs) - set(KNOWN_INPUTS)
        if bad:
            raise ValueError(f"model card {self.name!r}: unknown input {sorted(bad)[0]!r}; known: {KNOWN_INPUTS}")
        if ":" not in self.factory:
            raise ValueError(f"model card {self.name!r}: factory must be 'module:Class', got {self.factory!r}")
        stray = set(self.config_schema) - set(self.default_config)
        if stray:
            raise ValueError(f"model card {self.name!r}: config_schema names {sorted(stray)[0]!r}, which is not in default_config")
        for key, kind in self.encoders.items():
            if kind not in ENCODER_KINDS:
                raise ValueError(f"model card {self.name!r}: encoders[{key!r}] must be one of {ENCODER_KINDS}, got {kind!r}")
            if key not in self.default_config:
                raise ValueError(f"model card {self.name!r}: encoders names config key {key!r}, which default_config lacks")
        unknown = set(self.test_config) - set(self.default_config)
        if unknown:
            raise ValueError(f"model card {self.name!r}: test_config names {sorted(unknown)[0]!r}, which default_config lacks")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "factory": self.factory,
            "description": self.description,
            "inputs": list(self.inputs),
            "open_vocabulary": self.open_vocabulary,
            "paper": self.paper,
            "trained_on": self.trained_on,
            "default_config": dict(self.default_config),
            "input_size": self.input_size,
            "encoders": dict(self.encoders),
        }


#: Label columns a labelled (train/val) view hands out; nothing else of the manifest reaches a model.
LABEL_COLUMNS = ("generator", "family", "forgery_type", "is_fake")


class DataView:
    """The samples a model may see in one call (model contract v2, docs/ARCHITECTURE.md).

    A view holds opaque per-run ids (``ids``; ``sample_ids`` is an alias), in a per-run shuffled
    order, and for train/val only the labels (:data:`LABEL_COLUMNS`, read with ``labels``). It
    holds no path, folder, manifest sample id or content hash: images come only through the
    harness's loader as decoded uint8 tensors (``iter_images``, ``load_all``), and frozen-encoder
    outputs through the harness's cache (``encode_cached``), keyed by content hashes the view keeps
    to itself. The harness builds views (``dfad_bench.harness.views``); a model never constructs one.
    """

    def __init__(
        self,
        ids: list[str],
        role: str,
        labels: pd.DataFrame | None,
        loader_factory: Callable[..., Iterator[tuple[list[str], Any]]],
        *,
        sources: list[str],
        cache_keys: list[str],
        input_size: int | None = None,
        _size_memo: dict[str, Any] | None = None,
    ) -> None:
        if not len(ids) == len(sources) == len(cache_keys) or (labels is not None and len(labels) != len(ids)):
            raise ValueError("DataView: ids, sources, cache keys and labels must have one row per sample")
        self._ids = list(ids)
        self.role = role
        self.labelled = labels is not None
        self._labels = None if labels is None else labels.reset_index(drop=True)
        self._loader_factory = loader_factory
        self._sources = list(sources)
        self._cache_keys = list(cache_keys)
        self.input_size = input_size
        # The fallback resize size of mixed-size views, found once per view and shared by its subsets
        # (so every batch of one view has the same size).
        self._size_memo = {} if _size_memo is None else _size_memo

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"DataView({self.role}, {len(self)} samples, {'labelled' if self.labelled else 'unlabelled'})"

    @property
    def ids(self) -> list[str]:
        """Opaque per-run ids: a salted hash of the sample, meaningless outside this run."""
        return list(self._ids)

    @property
    def sample_ids(self) -> list[str]:
        """Alias of :attr:`ids` (contract v1 name): predictions are keyed by these."""
        return list(self._ids)

    @property
    def label_columns(self) -> tuple[str, ...]:
        return tuple(self._labels.columns) if self._labels is not None else ()

    def subset(self, positions: list[int] | np.ndarray) -> DataView:
        """A view of some rows (same role and labelling)."""
        pos = [int(p) for p in positions]
        return DataView(
            [self._ids[p] for p in pos], self.role, None if self._labels is None else self._labels.iloc[pos],
            self._loader_factory, sources=[self._sources[p] for p in pos], cache_keys=[self._cache_keys[p] for p in pos],
            input_size=self.input_size, _size_memo=self._size_memo,
        )

    def labels(self, column: str) -> np.ndarray:
        if self._labels is None:
            raise DfadError(f"labels are hidden in the {self.role} split")
        if column not in self._labels.columns:
            raise DfadError(f"{self.role} view: no label column {column!r}; labels: {list(self._labels.columns)}")
        return self._labels[column].to_numpy()

    def resize_target(self, image_size: int | None = None) -> tuple[int, int] | None:
        """(width, height) every image is resized to, or None to keep the decoded size.

        An explicit ``image_size`` wins, then the model card's ``input_size``; otherwise images keep
        their size, unless the view mixes sizes: then all are resized to the view's most common size
        (a batch must have one shape)."""
        size = image_size if image_size is not None else self.input_size
        if size is not None:
            return (int(size), int(size))
        if "fallback" not in self._size_memo:
            from dfad_bench.harness.images import common_size

            self._size_memo["fallback"] = common_size(self._sources)
        return self._size_memo["fallback"]

    def iter_images(
        self, batch_size: int = 64, shuffle: bool = False, seed: int = 0, image_size: int | None = None
    ) -> Iterator[tuple[list[str], Any]]:
        """Yield (ids, uint8 tensor N×3×H×W) batches through a torch DataLoader."""
        return self._loader_factory(self, batch_size=batch_size, shuffle=shuffle, seed=seed, image_size=image_size)

    def load_all(self, image_size: int | None = None, batch_size: int = 256) -> np.ndarray:
        """All images as one uint8 array N×H×W×3 (for small views, e.g. cached-feature models)."""
        chunks = [batch.permute(0, 2, 3, 1).numpy() for _, batch in self.iter_images(batch_size, image_size=image_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, 0, 0, 3), np.uint8)

    def encode_cached(
        self,
        fingerprint: str,
        encode_uint8: Callable[[np.ndarray], np.ndarray],
        batch_size: int = 256,
        image_size: int | None = None,
        dtype: str = "float32",
    ) -> np.ndarray:
        """(len(view), d) outputs of a frozen encoder, cached on disk by (image, ``fingerprint``).

        ``encode_uint8`` (N×H×W×3 uint8 -> N×d) runs only on cache misses. The cache is keyed by
        the images' content hashes, which the view never hands out; a resize is part of the key.
        """
        from dfad_bench.cache.features import FeatureCache
        from dfad_bench.paths import cache_dir

        target = self.resize_target(image_size)
        key = fingerprint if target is None else f"{fingerprint}|resize={target[0]}x{target[1]}"
        cache = FeatureCache(cache_dir("features"), key, dtype=dtype)

        def compute(positions: list[int]) -> np.ndarray:
            images = self.subset(positions).load_all(image_size=image_size, batch_size=batch_size)
            return np.asarray(encode_uint8(images), dtype=np.float32)

        return cache.encode_cached(self._cache_keys, compute, batch_size=batch_size)


@dataclass
class RunContext:
    """What the harness hands a model besides data."""

    label_spaces: dict[str, LabelSpace]
    taxonomy: Taxonomy
    seed: int
    device: str
    work_dir: Path  # checkpoints live here; a rerun of the same run resumes from them
    config: dict[str, Any]
    progress: Callable[[str, int], Any] | None = None  # progress(description, total) -> callable(advance)
    num_workers: int = 0
    log: Callable[[str], None] = print

    def attribution_classes(self, level: str, open_vocabulary: bool) -> tuple[str, ...]:
        space = self.label_spaces[level]
        return space.classes if open_vocabulary else space.seen

    def seen_only(self) -> RunContext:
        """This context with nothing unseen: label spaces of the seen classes only, and a taxonomy
        of the seen generators. The harness hands it to ``fit`` and to ``predict(val)``, so model
        selection and the val threshold cannot depend on an unseen class, not even its name."""
        from dataclasses import replace

        spaces = {k: LabelSpace(v.level, v.seen, v.seen, ()) for k, v in self.label_spaces.items()}
        seen = set(self.label_spaces["generator"].seen) if "generator" in self.label_spaces else set(self.taxonomy.generators)
        taxonomy = Taxonomy({n: g for n, g in self.taxonomy.generators.items() if n in seen})
        return replace(self, label_spaces=spaces, taxonomy=taxonomy)


@dataclass
class Predictions:
    """Per-sample outputs of ``predict``."""

    sample_ids: list[str]
    fake_score: np.ndarray
    family_classes: tuple[str, ...] = ()
    family_probs: np.ndarray | None = None
    generator_classes: tuple[str, ...] = ()
    generator_probs: np.ndarray | None = None
    embedding: np.ndarray | None = None

    @classmethod
    def from_attribution(
        cls,
        sample_ids: list[str],
        family: tuple[tuple[str, ...], np.ndarray],
        generator: tuple[tuple[str, ...], np.ndarray],
        embedding: np.ndarray | None = None,
    ) -> Predictions:
        """Predictions of a model whose detection is read off its family attribution:
        ``fake_score = 1 - p(real)`` (the CLIP-prompt models). ``family``/``generator`` are
        (classes, probabilities); the family classes must include ``real``."""
        fam_classes, fam_probs = family
        if REAL not in fam_classes:
            raise DfadError(f"family classes {list(fam_classes)} have no {REAL!r} class; cannot score fakes as 1 - p(real)")
        real = fam_classes.index(REAL)
        return cls(
            sample_ids=sample_ids,
            fake_score=np.clip(1.0 - fam_probs[:, real], 0.0, 1.0),
            family_classes=fam_classes,
            family_probs=fam_probs,
            generator_classes=generator[0],
            generator_probs=generator[1],
            embedding=embedding,
        )

    def validate(self, expected_ids: list[str], ctx: RunContext, open_vocabulary: bool, who: str) -> None:
        """Enforce the contract once, at the boundary: the ids of the input in order, arrays of the
        right shapes, then the predictions table schema (:func:`dfad_bench.predictions.validate_table`:
        fake_score in [0, 1], probabilities over the label space handed to the model, finite
        embeddings), the same rules ``score`` applies to a file."""
        from dfad_bench.predictions import validate_table

        where = f"model {who}"
        n = len(expected_ids)
        if list(self.sample_ids) != list(expected_ids):
            raise DfadError(f"{where}: predict must return the sample ids of its input, in order")
        score = np.asarray(self.fake_score)
        if score.shape != (n,):
            raise DfadError(f"{where}: fake_score must be an array of shape ({n},), got shape {score.shape}")
        for level in ("family", "generator"):
            probs, classes = getattr(self, f"{level}_probs"), getattr(self, f"{level}_classes")
            if len(set(classes)) != len(classes):
                raise DfadError(f"{where}: {level}_classes {list(classes)} name a class twice")
            if probs is not None and np.shape(probs) != (n, len(classes)):
                raise DfadError(f"{where}: {level}_probs must have shape ({n}, {len(classes)}) (samples x classes), got {np.shape(probs)}")
        if self.embedding is not None and (np.ndim(self.embedding) != 2 or np.shape(self.embedding)[0] != n):
            raise DfadError(f"{where}: embedding must be an (n, d) array with n = {n}, got shape {np.shape(self.embedding)}")
        spaces = ctx.label_spaces if ctx is not None else {}
        allowed = {level: space.classes if open_vocabulary else space.seen for level, space in spaces.items()}
        try:
            frame = self.to_frame()
        except (TypeError, ValueError) as exc:
            raise DfadError(f"{where}: predictions are not numeric arrays ({exc})") from None
        validate_table(frame, where, allowed)

    def to_frame(self) -> pd.DataFrame:
        """The predictions table format read by ``dfad-bench score``."""
        cols: dict[str, Any] = {"sample_id": list(self.sample_ids), "fake_score": np.asarray(self.fake_score, dtype=np.float64)}
        for level in ("family", "generator"):
            probs = getattr(self, f"{level}_probs")
            if probs is not None:
                for j, c in enumerate(getattr(self, f"{level}_classes")):
                    cols[f"prob_{level}.{c}"] = np.asarray(probs, dtype=np.float64)[:, j]
        df = pd.DataFrame(cols)
        if self.embedding is not None:
            df["embedding"] = list(np.asarray(self.embedding, dtype=np.float32))
        return df


@runtime_checkable
class DfadModel(Protocol):
    """Structural type of a plug-in model."""

    card: ClassVar[ModelCard]

    def get_params(self) -> dict[str, Any]: ...

    def fit(self, train: DataView, val: DataView, ctx: RunContext) -> DfadModel: ...

    def predict(self, data: DataView, ctx: RunContext) -> Predictions: ...

    @property
    def selection_rule(self) -> str: ...


#: Learned-state attributes :meth:`BaseModel.training_summary` reports by default (what val chose,
#: how it trained); a model with more to say overrides the method.
TRAINING_FIELDS = ("history_", "best_epoch_", "chosen_", "pretrained_", "imputation_", "parameter_counts_")


def training_summary(model: Any) -> dict[str, Any]:
    """``model.training_summary()`` for the run record; a plug-in that only follows the
    :class:`DfadModel` protocol gets :class:`BaseModel`'s default."""
    method = getattr(model, "training_summary", None)
    return dict(method() if callable(method) else BaseModel.training_summary(model))


class BaseModel:
    """Convenience base: stores config, exposes get_params, a default selection rule."""

    card: ClassVar[ModelCard]

    def __init__(self, **config: Any) -> None:
        unknown = set(config) - set(self.card.default_config)
        if unknown:
            raise DfadError(
                f"model {self.card.name}: unknown config key {sorted(unknown)[0]!r}; known keys: {sorted(self.card.default_config)}"
            )
        self.config: dict[str, Any] = {**self.card.default_config, **config}

    def get_params(self) -> dict[str, Any]:
        return dict(self.config)

    @property
    def selection_rule(self) -> str:
        return "no model selection (no trainable choice); threshold calibrated on val"

    def training_summary(self) -> dict[str, Any]:
        """What the run record keeps of how this model trained: by default the
        :data:`TRAINING_FIELDS` attributes it has (learned state, set by ``fit``)."""
        return {k: getattr(self, k) for k in TRAINING_FIELDS if hasattr(self, k)}

    def fit(self, train: DataView, val: DataView, ctx: RunContext) -> BaseModel:
        return self

    def predict(self, data: DataView, ctx: RunContext) -> Predictions:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- optional: export of the fitted model (dfad_bench/harness/export.py) ---------------------
    def export_state(self) -> dict[str, Any] | None:
        """The fitted state as ``{name: numpy array or torch tensor}`` (saved as safetensors, never
        pickled), or None: this model cannot be exported (the default). Frozen encoders are not
        part of it: they come back from the config. Called after ``fit``."""
        return None

    def load_state(self, state: dict[str, np.ndarray], ctx: RunContext) -> None:
        """Restore what :meth:`export_state` returned into a fresh model built from the same config;
        ``ctx`` is the seen-only context ``fit`` was given (label spaces, taxonomy, device), so
        class lists need not be part of the state. After it, ``predict`` works as after ``fit``."""
        raise DfadError(f"model {self.card.name}: cannot load an exported state (it exports none)")
