"""Describe pydantic `Args` fields for people: readable types, TOML-looking defaults, which values are secret.

Shared by `wut`, `register` (its credentials table), `check` (masking) and `requesters`. Pure functions: no
rich, no printing.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class FieldRow:
    """One argument as the `wut` table shows it."""

    name: str
    type: str
    default: str
    required: bool
    help: str


def describe_model(model: type[BaseModel]) -> list[FieldRow]:
    """One row per field of `model`, in declaration order (inherited fields first)."""
    rows = []
    for name, field in model.model_fields.items():
        required = field.is_required()
        rows.append(
            FieldRow(
                name=field.alias or name,
                type=readable_type(field.annotation) + bounds_text(field),
                default="" if required else default_text(field),
                required=required,
                help=(field.description or "").strip(),
            )
        )
    return rows


def bounds_text(field: FieldInfo) -> str:
    """A numeric field's bounds as ` (>= 1, <= 1000)`; empty when it has none (every task number has them)."""
    import annotated_types

    signs = (
        (annotated_types.Ge, "ge", ">="),
        (annotated_types.Gt, "gt", ">"),
        (annotated_types.Le, "le", "<="),
        (annotated_types.Lt, "lt", "<"),
    )
    parts = [
        f"{sign} {getattr(item, attribute)}"
        for item in field.metadata
        for cls, attribute, sign in signs
        if isinstance(item, cls)
    ]
    return f" ({', '.join(parts)})" if parts else ""


def readable_type(annotation: Any) -> str:
    """A type as a researcher reads it: `Path | None`, `list[str]`, `'a' | 'b'`."""
    if annotation is None or annotation is type(None):
        return "None"
    if annotation is typing.Any:
        return "Any"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return readable_type(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(readable_type(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin).replace("typing.", ""))
        inner = ", ".join("..." if a is Ellipsis else readable_type(a) for a in args)
        return f"{name}[{inner}]" if inner else name
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def default_text(field: FieldInfo) -> str:
    """The default of an optional field written as it would be in a TOML file."""
    from pydantic_core import PydanticUndefined

    if field.default_factory is not None:
        try:
            value = field.get_default(call_default_factory=True, validated_data={})
        except Exception:
            # A factory that needs other fields' values cannot be shown on its own; name it instead.
            return f"{getattr(field.default_factory, '__name__', 'factory')}()"
    elif field.default is PydanticUndefined:
        return ""
    else:
        value = field.default
    return toml_literal(value)


def toml_literal(value: Any) -> str:
    """A value as TOML would spell it (strings quoted, booleans lower case); None as `(none)`."""
    import tomli_w

    if value is None:
        return "(none)"
    plain = to_toml_value(value)
    # Arrays and tables inline, on one line: tomli-w would spread a non-empty array over several.
    if isinstance(plain, list):
        return "[" + ", ".join(toml_literal(item) for item in plain) + "]"
    if isinstance(plain, dict):
        if not plain:
            return "{}"
        items = (f"{_toml_key(key)} = {toml_literal(item)}" for key, item in plain.items())
        return "{ " + ", ".join(items) + " }"
    try:
        return tomli_w.dumps({"v": plain}).strip()[len("v = ") :]
    except TypeError:
        return repr(value)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def to_toml_value(value: Any) -> Any:
    """Turn values TOML cannot hold (paths, enums, secrets, tuples) into ones it can; drop nothing."""
    from pydantic import SecretBytes, SecretStr

    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, SecretBytes):
        return value.get_secret_value().decode()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_toml_value(value.value)
    if isinstance(value, dict):
        return {str(k): to_toml_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_toml_value(v) for v in value]
    if isinstance(value, str | bool | int | float | Decimal | dt.date | dt.time | dt.datetime):
        return value
    return str(value)


def secret_fields_of(model: type[BaseModel]) -> set[str]:
    """Fields of `model` whose values must never be printed (see `mephisto_core.abstractions.secrets`)."""
    from mephisto_core.abstractions.secrets import secret_field_names

    return secret_field_names(model)


def mask_values(values: dict[str, Any], secret: set[str] | None) -> dict[str, Any]:
    """A copy of `values` with secret entries replaced by `MASK`; `secret=None` masks every value."""
    from mephisto_core.abstractions.secrets import MASK  # pydantic is loaded by now; `--help` never gets here

    return {key: MASK if secret is None or key in secret else value for key, value in values.items()}
