"""Task files: load the TOML, apply `section.key=value` overrides, validate every section against its schema.

Errors name the file, the dotted key, the line where it can be found, what was expected and what was found.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mephisto_core.abstractions.task_args import TaskArgs
from mephisto_core.errors import ConfigError, PluginError
from mephisto_core.plugins import KINDS, Kind, get_registry
from mephisto_core.text_files import TOO_MANY_DIGITS, loads_toml, read_utf8

SECTIONS = ("task", *KINDS)


@dataclass
class TaskConfig:
    """A validated task file: the `[task]` section plus each plugin section's type and parsed args."""

    path: Path
    task: TaskArgs
    blueprint_type: str
    blueprint_args: BaseModel
    architect_type: str
    architect_args: BaseModel
    provider_type: str
    provider_args: BaseModel

    @property
    def task_dir(self) -> Path:
        return self.path.parent

    def type_of(self, kind: Kind) -> str:
        return str(getattr(self, f"{kind}_type"))

    def args_of(self, kind: Kind) -> BaseModel:
        return typing.cast(BaseModel, getattr(self, f"{kind}_args"))

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain JSON-able data (stored with each task run)."""
        out: dict[str, Any] = {"task": self.task.model_dump(mode="json")}
        for kind in KINDS:
            out[kind] = {"type": self.type_of(kind), **self.args_of(kind).model_dump(mode="json")}
        return out


def load_task_config(path: Path | str, overrides: list[str] | tuple[str, ...] = ()) -> TaskConfig:
    """Read, override and validate a task file; raise ConfigError for any problem."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError("task file not found", file=path)
    # Bytes that are not UTF-8 and too-deep nesting are located errors too, not tracebacks (text_files).
    text = read_utf8(path)
    raw = loads_toml(text, path)
    overridden = apply_overrides(raw, overrides, path)
    return validate_task_dict(raw, path, text, overridden)


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...], path: Path) -> set[str]:
    """Set each `section.key=value` in `raw` (value as a string for now); return the dotted keys set."""
    overridden: set[str] = set()
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or "." not in key:
            raise ConfigError(
                f"override {item!r} is not of the form section.key=value (e.g. task.reward=0.5)", file=path
            )
        section, *rest = key.split(".")
        if not rest or not all(rest):
            raise ConfigError(
                f"override {item!r} is not of the form section.key=value (e.g. task.reward=0.5)", file=path
            )
        if section not in SECTIONS:
            raise ConfigError(
                f"override {item!r} names an unknown section {section!r}{_did_you_mean(section, SECTIONS)}; "
                f"sections: {', '.join(SECTIONS)}",
                file=path,
            )
        node = raw.setdefault(section, {})
        for depth, part in enumerate(rest[:-1], start=1):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                parent = ".".join([section, *rest[:depth]])
                raise ConfigError(f"override {item!r}: {parent} is a value, not a table", file=path)
        node[rest[-1]] = _Override(value)
        overridden.add(key)
    return overridden


class _Override(str):
    """A command-line value not yet typed: typed by the schema field it lands in."""


def validate_task_dict(
    raw: dict[str, Any], path: Path, text: str = "", overridden: set[str] | None = None
) -> TaskConfig:
    """Validate parsed task-file data (see `load_task_config`)."""
    unknown = [name for name in raw if name not in SECTIONS]
    if unknown:
        raise ConfigError(
            f"unknown section [{unknown[0]}]{_did_you_mean(unknown[0], SECTIONS)}; a task file has the sections "
            + ", ".join(f"[{name}]" for name in SECTIONS),
            file=path,
            line=_find_line(text, unknown[0], None),
        )
    for name in SECTIONS:
        if not isinstance(raw.get(name, {}), dict):
            raise ConfigError(f"[{name}] must be a table", file=path, key=name, line=_find_line(text, name, None))
    cli = overridden or set()
    task = _validate(TaskArgs, dict(raw.get("task", {})), "task", path, text, cli)
    _resolve_paths(task, path.parent)
    registry = get_registry()
    parsed: dict[str, Any] = {}
    for kind in KINDS:
        section = dict(raw.get(kind, {}))
        type_name = section.pop("type", None)
        types_installed = ", ".join(registry.types(kind)) or "none installed"
        if type_name is None:
            raise ConfigError(
                f"[{kind}] needs a type; installed {kind} types: {types_installed}",
                file=path,
                key=f"{kind}.type",
                line=_find_line(text, kind, None),
            )
        try:
            cls = registry.get(kind, str(type_name))
        except PluginError as exc:
            raise ConfigError(str(exc), file=path, key=f"{kind}.type", line=_find_line(text, kind, "type")) from exc
        args = _validate(cls.Args, section, kind, path, text, cli)
        _resolve_paths(args, path.parent)
        parsed[kind] = (str(type_name), args)
    return TaskConfig(
        path=path,
        task=task,
        blueprint_type=parsed["blueprint"][0],
        blueprint_args=parsed["blueprint"][1],
        architect_type=parsed["architect"][0],
        architect_args=parsed["architect"][1],
        provider_type=parsed["provider"][0],
        provider_args=parsed["provider"][1],
    )


def _validate(
    model: type[BaseModel],
    data: dict[str, Any],
    section: str,
    path: Path,
    text: str,
    cli: frozenset[str] | set[str] = frozenset(),
) -> Any:
    """Validate one section; a problem with a value given on the command line (`cli` holds those dotted keys)
    names the command line, not a line of the task file (where the key may not even be)."""
    raw_cli = {key: str(value) for key, value in data.items() if isinstance(value, _Override)}
    data = _type_overrides(model, data, section, path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems: list[tuple[str, int | None, str]] = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            key = ".".join([section, *loc]) if loc else section
            from_cli = bool(loc) and (key in cli or f"{section}.{loc[0]}" in cli)
            in_table = _find_table_line(text, section, loc)  # an [[array of tables]] entry, e.g. a scheme
            line = None if from_cli else (in_table or _find_line(text, section, loc[0] if loc else None))
            if err["type"] == "missing":
                detail = "is required but missing"
            elif err["type"] == "extra_forbidden":
                suggestion = _did_you_mean(loc[-1], model.model_fields)
                detail = f"is not a known key of [{section}]{suggestion}; known keys: {', '.join(model.model_fields)}"
            elif not loc or from_cli:  # the section as a whole, or a value the override below quotes
                detail = err["msg"]
            else:
                detail = f"{err['msg']} (found {err.get('input')!r})"
            if from_cli:
                given = raw_cli.get(loc[0]) if len(loc) == 1 else None
                origin = f"{key}={given}" if given is not None else key
                detail = f"command-line override {origin}, key '{key}': {detail}"
            problems.append((key, line, detail))
        if len(problems) == 1:
            key, line, detail = problems[0]
            if line is None and detail.startswith("command-line override"):
                error = ConfigError(detail)  # not the task file's fault: no file or line to point at
                error.file, error.key = path, key
                raise error from None
            raise ConfigError(detail, file=path, key=key, line=line) from None
        listing = [f"line {line}: {key} {detail}" if line else f"{key} {detail}" for key, line, detail in problems]
        raise ConfigError(f"{len(problems)} problems:\n  " + "\n  ".join(listing), file=path) from None


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    """` (did you mean 'reward'?)` when a known name is close to `name`, else nothing."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _type_overrides(model: type[BaseModel], data: dict[str, Any], section: str, path: Path) -> dict[str, Any]:
    """Give command-line values the type their schema field wants: strings stay strings, others parse as TOML."""
    out = dict(data)
    for key, value in data.items():
        if not isinstance(value, _Override):
            continue
        field = model.model_fields.get(key)
        if field is not None and _accepts_plain_string(field.annotation):
            out[key] = str(value)
            continue
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = str(value)
        except RecursionError:
            raise ConfigError(
                "the command-line value is nested too deeply to read (hundreds of [ or {)",
                file=path,
                key=f"{section}.{key}",
            ) from None
        except ValueError:  # Python's cap on the digits of an integer
            raise ConfigError(f"the command-line value: {TOO_MANY_DIGITS}", file=path, key=f"{section}.{key}") from None
    return out


def _accepts_plain_string(annotation: Any) -> bool:
    if annotation in (str, Path):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts_plain_string(a) for a in typing.get_args(annotation) if a is not type(None))
    if origin is typing.Literal:
        return all(isinstance(a, str) for a in typing.get_args(annotation))
    return False


def _resolve_paths(args: BaseModel, base: Path) -> None:
    """Make every relative Path field (also in nested sections) absolute, relative to the task file's folder."""
    for name in type(args).model_fields:
        value = getattr(args, name)
        if isinstance(value, Path) and not value.is_absolute():
            object.__setattr__(args, name, (base / value).resolve())
        elif isinstance(value, BaseModel):
            _resolve_paths(value, base)


def _find_table_line(text: str, section: str, loc: list[str]) -> int | None:
    """The line of an error inside the n-th `[[section.key]]` table (loc = key, n, ...): the deepest key of loc
    written as `name = ...` in that table, else the table's header line. None when loc is not such a place."""
    if len(loc) < 2 or not loc[1].isdigit():
        return None
    lines = text.splitlines()
    header = re.compile(r"^\s*\[\[\s*" + re.escape(f"{section}.{loc[0]}") + r"\s*\]\]\s*(#.*)?$")
    starts = [i for i, line in enumerate(lines) if header.match(line)]
    if int(loc[1]) >= len(starts):
        return None
    start = starts[int(loc[1])]
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    for key in reversed(loc[2:]):
        key_re = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
        found = next((i for i in range(start + 1, end) if key_re.match(lines[i])), None)
        if found is not None:
            return found + 1
    return start + 1


def _find_line(text: str, section: str, key: str | None) -> int | None:
    """Best-effort line of `[section]` or of `key = ...` inside it (tomllib reports no key positions)."""
    if not text:
        return None
    lines = text.splitlines()
    header = re.compile(r"^\s*\[\s*" + re.escape(section) + r"\s*\]\s*(#.*)?$")
    any_header = re.compile(r"^\s*\[")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return None
    if key is None:
        return start + 1
    key_re = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
    for i in range(start + 1, len(lines)):
        if any_header.match(lines[i]):
            break
        if key_re.match(lines[i]):
            return i + 1
    return start + 1
