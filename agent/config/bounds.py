"""A field's type and range, read from its pydantic `Field` constraints.

The config models are the one place where limits are written down. Anything
else that accepts the same values (the `/set` topics, `evaluate`'s flags)
asks this module what a field allows instead of keeping its own table, so the
two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

import annotated_types as at
from pydantic import BaseModel, ConfigDict, TypeAdapter


@dataclass(frozen=True)
class FieldBounds:
    """One field's value type (bool, int or float) and inclusive/exclusive limits."""

    kind: type
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def describe(self) -> str:
        """What the field accepts, in words: `a number greater than 0 and at most 600`."""
        if self.kind is bool:
            return "ON or OFF"
        noun = "a whole number" if self.kind is int else "a number"
        parts = [
            f"{words} {_num(limit)}"
            for words, limit in (
                ("at least", self.ge),
                ("greater than", self.gt),
                ("at most", self.le),
                ("less than", self.lt),
            )
            if limit is not None
        ]
        return f"{noun} {' and '.join(parts)}" if parts else noun


def _num(value: float) -> str:
    return f"{value:g}"


def _kind(annotation: Any) -> type:
    for kind in (bool, int, float):  # bool first: it is also an int
        if annotation is kind:
            return kind
    raise TypeError(f"not a plain bool/int/float field: {annotation!r}")


@cache
def field_bounds(model: type[BaseModel], name: str) -> FieldBounds:
    """The type and limits of `model.name` (annotated_types Ge/Gt/Le/Lt in its metadata)."""
    field = model.model_fields[name]
    limits: dict[str, float] = {}
    for item in field.metadata:
        for attr, cls in (("ge", at.Ge), ("gt", at.Gt), ("le", at.Le), ("lt", at.Lt)):
            if isinstance(item, cls):
                limits[attr] = float(getattr(item, attr))
    return FieldBounds(_kind(field.annotation), **limits)


@cache
def field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """A strict validator for one field alone: its type and every constraint in its metadata.

    Strict, so the value must already have the field's type (the caller parses
    text with its own grammar); finite, as the config models are.
    """
    field = model.model_fields[name]
    annotation = field.annotation
    if field.metadata:
        annotation = Annotated[(annotation, *field.metadata)]  # type: ignore[valid-type]
    return TypeAdapter(annotation, config=ConfigDict(strict=True, allow_inf_nan=False))
