"""Which fields of an `Args` model hold secrets, and keeping secret values out of text meant for people.

A plugin declares a secret by its type, `SecretStr` (or `SecretBytes`), or, for a field that must stay a plain
type, with `Field(json_schema_extra={"secret": True})`. The declaration is what counts: `account_pin` and
`passphrase` are secret when declared so, whatever they are called. Names with `secret`, `password`, `token` or
`key` in them are masked as well, as a safety net for plugins written before the declaration existed.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import SecretBytes, SecretStr

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

MASK = "********"
_SECRET_NAME = re.compile(r"secret|password|token|key", re.IGNORECASE)
_ANYWHERE_LENGTH = 8  # a secret this long is redacted wherever it appears, even inside a longer word


def is_secret_field(name: str, field: FieldInfo) -> bool:
    """True when the field is declared secret (its type or its marker) or its name says so."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return extra.get("secret") is True or _holds_secret_type(field.annotation) or bool(_SECRET_NAME.search(name))


def secret_field_names(model: type[BaseModel]) -> set[str]:
    """The keys (aliases where a field has one) of `model` whose values must never be printed."""
    return {field.alias or name for name, field in model.model_fields.items() if is_secret_field(name, field)}


def redact(text: str, secrets: Iterable[Any]) -> str:
    """`text` with every secret value in it replaced by MASK, also as `repr()` or JSON would have quoted it.

    For messages that may quote what they were given, such as a provider's exception that prints the whole
    credentials dict. A value of 8 characters or more is redacted wherever it appears; a shorter one wherever
    it is not part of a longer word.
    """
    forms: set[str] = set()
    for secret in secrets:
        if isinstance(secret, SecretStr | SecretBytes):
            secret = secret.get_secret_value()
        if isinstance(secret, bytes):
            secret = secret.decode(errors="replace")
        value = str(secret)
        if value:
            quoted = (repr(value)[1:-1], json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1])
            forms.update((value, *quoted))
    # Longest first, so a value that contains another is replaced whole.
    for form in sorted(forms, key=len, reverse=True):
        if len(form) >= _ANYWHERE_LENGTH:
            text = text.replace(form, MASK)
        else:
            # A short value ("x", a 4-digit PIN) only where it stands alone: inside a word it would turn
            # "max_spend" into "ma********_spend" and hide nothing.
            text = re.sub(rf"(?<!\w){re.escape(form)}(?!\w)", MASK, text)
    return text


def _holds_secret_type(annotation: Any) -> bool:
    """True for SecretStr / SecretBytes, also inside `X | None`, `Optional[X]`, `Annotated[X, ...]`, lists."""
    if annotation in (SecretStr, SecretBytes):
        return True
    if isinstance(annotation, type) and issubclass(annotation, SecretStr | SecretBytes):
        return True
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return False
    return any(_holds_secret_type(arg) for arg in typing.get_args(annotation))
