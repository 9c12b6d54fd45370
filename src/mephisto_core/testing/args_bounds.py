"""Find numbers a task file could set without bounds: for the core's meta-test and plugin authors' own tests.

`check` must refuse what `launch` cannot run, so every numeric argument of an `Args` model needs a lower and an
upper bound (`Field(ge=..., le=...)`), and a float or Decimal one `allow_inf_nan=False`. In a plugin's tests::

    from mephisto_core.testing import unbounded_numeric_fields

    def test_my_args_bound_every_number():
        assert unbounded_numeric_fields(MyBlueprint.Args) == []
"""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from typing import Annotated, Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo


def unbounded_numeric_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    """`key: what is missing` for each numeric field of `model` (and of models nested in it) that lacks a bound."""
    problems: list[str] = []
    for name, field in model.model_fields.items():
        problems += _check_annotation(field.annotation, list(field.metadata), f"{prefix}{name}")
    return problems


def _check_annotation(annotation: Any, metadata: list[Any], key: str) -> list[str]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *extra = typing.get_args(annotation)
        for item in extra:
            metadata = [*metadata, *(item.metadata if isinstance(item, FieldInfo) else [item])]
        return _check_annotation(base, metadata, key)
    if origin in (typing.Union, types.UnionType):
        return [p for arg in typing.get_args(annotation) for p in _check_annotation(arg, metadata, key)]
    if origin in (list, tuple, set, frozenset):
        # Constraints on the list itself (its length) do not bound its items: only the item's own do.
        return [p for arg in typing.get_args(annotation) for p in _check_annotation(arg, [], f"{key}[]")]
    if origin is dict:
        return [p for arg in typing.get_args(annotation)[1:] for p in _check_annotation(arg, [], f"{key}{{}}")]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return unbounded_numeric_fields(annotation, f"{key}.")
    if annotation is bool or not (isinstance(annotation, type) and issubclass(annotation, int | float | Decimal)):
        return []
    missing = []
    if not any(isinstance(m, annotated_types.Ge | annotated_types.Gt) for m in metadata):
        missing.append("a lower bound (ge/gt)")
    if not any(isinstance(m, annotated_types.Le | annotated_types.Lt) for m in metadata):
        missing.append("an upper bound (le/lt)")
    finite = any(getattr(m, "allow_inf_nan", None) is False for m in metadata)
    if issubclass(annotation, float | Decimal) and not finite:
        missing.append("allow_inf_nan=False")
    return [f"{key}: needs {', '.join(missing)}"] if missing else []
