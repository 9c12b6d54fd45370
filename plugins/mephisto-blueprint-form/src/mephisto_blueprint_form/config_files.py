"""Reading the JSON files a form task names (form configs, token values), with errors that point at the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mephisto_core.errors import ConfigError
from mephisto_core.text_files import check_nesting, decode_utf8, nesting_error


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys silently; in a hand-written config that is always a mistake.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(path: Path, key: str | None = None) -> Any:
    """The parsed file; ConfigError (with the file, the task-file key if any, and the line) when it cannot be."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError("file not found", file=path, key=key) from exc
    except IsADirectoryError as exc:
        raise ConfigError("is a folder, not a JSON file", file=path, key=key) from exc
    except UnicodeDecodeError:
        decode_utf8(path.read_bytes(), path, key=key)  # raises the ConfigError with the line and byte
        raise
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror}", file=path, key=key) from exc
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", file=path, key=key, line=exc.lineno
        ) from exc
    except RecursionError:
        raise nesting_error(text, "json", path, key=key) from None
    except _DuplicateKey as exc:
        raise ConfigError(f"is not valid: an object has the key {exc.args[0]!r} twice", file=path, key=key) from exc
    except ValueError as exc:
        raise ConfigError(str(exc), file=path, key=key) from exc
    check_nesting(value, text, "json", path, key=key)  # a fixed limit, before recursive checks of the form
    return value
