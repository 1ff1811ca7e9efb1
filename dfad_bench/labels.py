"""Attribution label spaces handed to models by a protocol."""

from __future__ import annotations

from dataclasses import dataclass

LEVELS = ("family", "generator")


@dataclass(frozen=True)
class LabelSpace:
    """The classes of one attribution level.

    ``classes`` is every class that occurs in the protocol's data ("real" first, then sorted);
    ``seen`` are classes with training data; ``unseen`` appear only at test. A closed-set model
    outputs probabilities over ``seen``; an open-vocabulary model may output over ``classes``.
    """

    level: str
    classes: tuple[str, ...]
    seen: tuple[str, ...]
    unseen: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")
        if set(self.seen) & set(self.unseen):
            raise ValueError("a class cannot be both seen and unseen")
        if set(self.seen) | set(self.unseen) != set(self.classes):
            raise ValueError("classes must be exactly seen + unseen")

    def to_dict(self) -> dict[str, object]:
        return {"level": self.level, "classes": list(self.classes), "seen": list(self.seen), "unseen": list(self.unseen)}


def make_label_space(level: str, seen: set[str] | list[str], unseen: set[str] | list[str]) -> LabelSpace:
    """Order classes as "real" first then alphabetical, so column order is stable across runs."""

    def order(names: set[str] | list[str]) -> tuple[str, ...]:
        names = set(names)
        return tuple((["real"] if "real" in names else []) + sorted(names - {"real"}))

    seen_t, unseen_t = order(seen), order(unseen)
    return LabelSpace(level, order(set(seen_t) | set(unseen_t)), seen_t, unseen_t)
