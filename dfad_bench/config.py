"""Typed model-config schemas: every ``--set`` value is checked before any image is read.

A model card's schema is derived from the types of its ``default_config`` (an int option takes
integers, a float option numbers, a bool option only true/false, a list option lists of the
first item's type) plus the ranges it declares in ``ModelCard.config_schema`` with the helpers
below, e.g. ``{"batch_size": Int(ge=1), "lr": Float(gt=0), "C_grid": ListOf(Float(gt=0))}``.

:func:`validate_config` returns the config that runs, with values coerced to their declared type
(``epochs=30.0`` becomes ``30``; ``lr=1`` becomes ``1.0``), so the run id and the record hash
and store what ran, never the raw string. A value that does not fit is one
:class:`~dfad_bench.errors.DfadError` line naming the option, what it expects and what it got.
Schemas never change a card's defaults: ``validate_config(card, {}) == card.default_config``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dfad_bench.errors import DfadError


class OptionError(ValueError):
    """A value does not fit an option's spec (the caller adds which option and where)."""


@dataclass(frozen=True)
class Opt:
    """One option's type and range. Build with :func:`Int`, :func:`Float`, :func:`Bool`,
    :func:`Str`, :func:`ListOf`, :func:`OneOf` or :data:`ANY`."""

    kind: str  # int | float | bool | str | list | oneof | any
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False
    item: Opt | None = None
    alternatives: tuple[Opt, ...] = ()
    min_items: int = 1
    nonempty: bool = False

    # -- description -------------------------------------------------------------------------
    def _bounds(self) -> str:
        parts = [f"{op} {v:g}" for op, v in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)) if v is not None]
        return (" " + " and ".join(parts)) if parts else ""

    def describe(self) -> str:
        """What the option expects, in words: 'an integer >= 1', 'a list of numbers > 0'."""
        if self.kind == "int":
            text = "an integer" + self._bounds()
        elif self.kind == "float":
            text = "a number" + self._bounds()
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind == "str":
            text = ("one of " + ", ".join(map(str, self.choices))) if self.choices else ("a non-empty string" if self.nonempty else "a string")
        elif self.kind == "list":
            assert self.item is not None
            inner = self.item.describe()
            for single, plural in (("an integer", "integers"), ("a number", "numbers"), ("a non-empty string", "non-empty strings"),
                                   ("a string", "strings"), ("one of", "values from"), ("true or false", "booleans")):
                if inner.startswith(single):
                    inner = plural + inner[len(single):]
                    break
            text = f"a list of {'at least ' + str(self.min_items) + ' ' if self.min_items > 1 else ''}{inner}"
            if self.min_items >= 1:
                text += " (non-empty)"
        elif self.kind == "oneof":
            text = " or ".join(a.describe() for a in self.alternatives)
        else:
            text = "any value"
        return text + (" or null" if self.nullable else "")

    __str__ = describe

    # -- checking ----------------------------------------------------------------------------
    def _check_range(self, x: float) -> None:
        if (
            (self.ge is not None and not x >= self.ge)
            or (self.gt is not None and not x > self.gt)
            or (self.le is not None and not x <= self.le)
            or (self.lt is not None and not x < self.lt)
        ):
            raise OptionError(self.describe())

    def check(self, value: Any) -> Any:
        """The value coerced to this option's type, or :class:`OptionError`."""
        if value is None:
            if self.nullable or self.kind == "any":
                return None
            raise OptionError(self.describe())
        if self.kind == "any":
            return value
        if self.kind == "int":
            if isinstance(value, bool):
                raise OptionError(self.describe())
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                value = int(value)  # 30.0 -> 30: a YAML "30.0" means thirty epochs
            if not isinstance(value, numbers.Integral):
                raise OptionError(self.describe())
            value = int(value)
            self._check_range(value)
            return value
        if self.kind == "float":
            if isinstance(value, bool):
                raise OptionError(self.describe())
            if isinstance(value, int):
                value = float(value)
            if isinstance(value, str):  # "1e-3": YAML 1.1 leaves it a string
                try:
                    value = float(value)
                except ValueError:
                    raise OptionError(self.describe()) from None
            try:
                x = float(value)
            except (TypeError, ValueError):
                raise OptionError(self.describe()) from None
            if not math.isfinite(x):
                raise OptionError(self.describe() + " (finite)")
            self._check_range(x)
            return x
        if self.kind == "bool":
            if not isinstance(value, bool):  # strict: "maybe", 1, "yes-ish" are refused
                raise OptionError(self.describe())
            return value
        if self.kind == "str":
            if not isinstance(value, str):
                raise OptionError(self.describe())
            if self.choices and value not in self.choices:
                raise OptionError(self.describe())
            if self.nonempty and not value.strip():
                raise OptionError(self.describe())
            return value
        if self.kind == "list":
            assert self.item is not None
            items = list(value) if isinstance(value, list | tuple) else [value]  # a scalar is a one-item list
            if len(items) < self.min_items:
                raise OptionError(self.describe())
            try:
                return [self.item.check(v) for v in items]
            except OptionError:
                raise OptionError(self.describe()) from None
        if self.kind == "oneof":
            for alt in self.alternatives:
                try:
                    return alt.check(value)
                except OptionError:
                    continue
            raise OptionError(self.describe())
        raise OptionError(f"unknown option kind {self.kind!r}")  # pragma: no cover - programming error


def Int(ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None, nullable: bool = False) -> Opt:  # noqa: N802
    return Opt("int", ge=ge, gt=gt, le=le, lt=lt, nullable=nullable)


def Float(ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None, nullable: bool = False) -> Opt:  # noqa: N802
    return Opt("float", ge=ge, gt=gt, le=le, lt=lt, nullable=nullable)


def Bool(nullable: bool = False) -> Opt:  # noqa: N802
    return Opt("bool", nullable=nullable)


def Str(*choices: str, nonempty: bool = False, nullable: bool = False) -> Opt:  # noqa: N802
    return Opt("str", choices=tuple(choices), nonempty=nonempty, nullable=nullable)


def ListOf(item: Opt, min_items: int = 1, nullable: bool = False) -> Opt:  # noqa: N802
    return Opt("list", item=item, min_items=min_items, nullable=nullable)


def OneOf(*alternatives: Opt, nullable: bool = False) -> Opt:  # noqa: N802
    return Opt("oneof", alternatives=tuple(alternatives), nullable=nullable)


ANY = Opt("any")

#: Ranges shared by many cards.
POSITIVE_INT = Int(ge=1)
NON_NEGATIVE = Float(ge=0)
POSITIVE = Float(gt=0)


def infer_option(default: Any) -> Opt:
    """The spec implied by a default value's type (no range)."""
    if isinstance(default, bool):
        return Bool()
    if isinstance(default, int):
        return Int()
    if isinstance(default, float):
        return Float()
    if isinstance(default, str):
        return Str()
    if isinstance(default, list | tuple):
        return ListOf(infer_option(default[0]), min_items=0) if default else ListOf(ANY, min_items=0)
    return ANY  # None, dicts, objects: nothing to infer


def config_schema(card: Any) -> dict[str, Opt]:
    """The full schema of a card: declared specs, inferred ones for the rest."""
    declared: Mapping[str, Opt] = getattr(card, "config_schema", None) or {}
    extra = set(declared) - set(card.default_config)
    if extra:
        raise DfadError(f"model card {card.name}: config_schema names {sorted(extra)[0]!r}, which is not in default_config")
    return {k: declared.get(k) or infer_option(v) for k, v in card.default_config.items()}


def validate_config(card: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults + overrides, unknown keys refused, every value checked and coerced."""
    unknown = set(overrides) - set(card.default_config)
    if unknown:
        raise DfadError(f"--set {sorted(unknown)[0]}: model {card.name} has no such option; options: {sorted(card.default_config)}")
    schema = config_schema(card)
    out: dict[str, Any] = {}
    for key, default in card.default_config.items():
        spec = schema[key]
        given = key in overrides
        value = overrides[key] if given else default
        try:
            out[key] = spec.check(value)
        except OptionError as exc:
            where = f"--set {key}={_show(value)}" if given else f"model card {card.name}: default_config[{key!r}]={_show(value)}"
            raise DfadError(f"{where}: model {card.name} option {key!r} expects {exc}") from None
    return out


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def describe_schema(card: Any) -> dict[str, str]:
    """{option: what it expects} for listings and docs."""
    return {k: spec.describe() for k, spec in config_schema(card).items()}


#: Schema of :data:`dfad_bench.harness.torch_model.TRAIN_DEFAULTS` (the standard torch loop).
TRAIN_SCHEMA: dict[str, Opt] = {
    "epochs": POSITIVE_INT,
    "batch_size": POSITIVE_INT,
    "lr": NON_NEGATIVE,  # 0 freezes training: a control run (tests use it)
    "weight_decay": NON_NEGATIVE,
    "patience": POSITIVE_INT,
    "image_size": Int(ge=16, nullable=True),  # four stride-2 stages need at least 16 px
    "attribution_weight": NON_NEGATIVE,
}
