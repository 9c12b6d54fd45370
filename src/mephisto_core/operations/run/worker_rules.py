"""The rules about who may work: qualification requirements, onboarding, screening and gold answers.

Plain functions over the data model, called by the worker pool on the database writer thread. Researcher code
named in a task file (`module:function`) is imported once at launch, so a typo is an error before anyone works.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mephisto_core.abstractions.task_args import QualificationRequirement
from mephisto_core.errors import ConfigError
from mephisto_core.operations.run.procedure_registry import ProcedureRegistry, load_procedures
from mephisto_core.text_files import guard_nesting, read_utf8

if TYPE_CHECKING:
    from mephisto_core.abstractions import Blueprint
    from mephisto_core.task_config import TaskConfig

_ORDERED: dict[str, Callable[[int, int], bool]] = {
    "==": lambda held, wanted: held == wanted,
    "!=": lambda held, wanted: held != wanted,
    ">": lambda held, wanted: held > wanted,
    ">=": lambda held, wanted: held >= wanted,
    "<": lambda held, wanted: held < wanted,
    "<=": lambda held, wanted: held <= wanted,
}


def unmet_requirement(
    grants: Mapping[str, int], requirements: list[QualificationRequirement]
) -> QualificationRequirement | None:
    """The first requirement a worker holding `grants` (qualification name -> value) does not meet, or None."""
    for requirement in requirements:
        if not _meets(grants.get(requirement.name), requirement):
            return requirement
    return None


_IN_WORDS = {
    "==": "equal to",
    "!=": "other than",
    ">": "more than",
    ">=": "at least",
    "<": "less than",
    "<=": "at most",
    "in": "one of",
    "not_in": "none of",
}


def requirement_refusal(requirement: QualificationRequirement, held: int | None) -> str:
    """What a worker reads when `requirement` refused them: which qualification, what it asks, what they hold."""
    name = requirement.name
    if requirement.comparator == "exists":
        return f"This task is open only to workers with the qualification {name!r}, and you do not have it."
    if requirement.comparator == "not_exists":
        return f"This task is not open to workers with the qualification {name!r}, and you have it."
    wanted = requirement.value
    shown = ", ".join(str(v) for v in wanted) if isinstance(wanted, list) else str(wanted)
    yours = "you do not have it" if held is None else f"yours is {held}"
    return (
        f"This task is open only to workers whose qualification {name!r} is {_IN_WORDS[requirement.comparator]} "
        f"{shown}; {yours}."
    )


def _meets(held: int | None, requirement: QualificationRequirement) -> bool:
    comparator, wanted = requirement.comparator, requirement.value
    if comparator == "exists":
        return held is not None
    if comparator == "not_exists":
        return held is None
    if held is None:
        return False  # every value comparison needs a grant to compare
    if comparator == "in":
        return isinstance(wanted, list) and held in wanted
    if comparator == "not_in":
        return isinstance(wanted, list) and held not in wanted
    return isinstance(wanted, int) and _ORDERED[comparator](held, wanted)


def load_function(spec: str, task_dir: Path, key: str, task_file: Path | None = None) -> Callable[..., Any]:
    """Import `module:function`: `module.py` in the task folder if there is one, else an installed module.

    A task folder's module is loaded from its file under a name of its own, so two tasks' `checks.py` never
    collide in one process. A ConfigError names `key` when anything fails.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{spec!r} is not of the form module:function", file=task_file, key=key)
    local = task_dir / (module_name.replace(".", "/") + ".py")
    try:
        if local.is_file():
            unique = f"_mephisto_task_{abs(hash(str(local)))}_{module_name.replace('.', '_')}"
            module_spec = importlib.util.spec_from_file_location(unique, local)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"cannot import {module_name!r}: {type(exc).__name__}: {exc}", file=task_file, key=key
        ) from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise ConfigError(f"{module_name!r} has no function {attr!r}", file=task_file, key=key)
    return function  # type: ignore[no-any-return]


def wrong_answers(expected: dict[str, Any], outputs: dict[str, Any]) -> list[str]:
    """The fields whose submitted value differs from the expected one (lists compare as sets, text trimmed)."""
    return [name for name, value in expected.items() if _normalise(outputs.get(name)) != _normalise(value)]


def _normalise(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(str(v).strip() for v in value)
    if isinstance(value, str):
        return value.strip()
    return value


@dataclass(frozen=True)
class GoldItem:
    """One known-answer unit."""

    index: int
    inputs: dict[str, Any]
    answers: dict[str, Any]


def load_gold(path: Path, task_file: Path | None = None) -> list[GoldItem]:
    """Read the gold JSONL file; errors name the file and the line."""
    if not path.is_file():
        raise ConfigError(f"gold file {path} not found", file=task_file, key="task.gold.data_jsonl")
    items: list[GoldItem] = []
    for number, line in enumerate(read_utf8(path, key="task.gold.data_jsonl").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = guard_nesting(json.loads, line, path, key="task.gold.data_jsonl", first_line=number)
        except ValueError as exc:
            raise ConfigError(f"not valid JSON: {exc}", file=path, line=number) from exc
        if not (isinstance(row, dict) and isinstance(row.get("inputs"), dict) and isinstance(row.get("answers"), dict)):
            raise ConfigError('each line needs {"inputs": {...}, "answers": {...}}', file=path, line=number)
        if not row["answers"]:
            raise ConfigError("answers is empty: nothing to check", file=path, line=number)
        items.append(GoldItem(len(items), row["inputs"], row["answers"]))
    if not items:
        raise ConfigError("the gold file has no units", file=path, key="task.gold.data_jsonl")
    return items


@dataclass(frozen=True)
class RunRules:
    """A task's worker rules, loaded once at launch."""

    onboarding: Callable[[dict[str, Any]], bool] | None = None
    screening: Callable[[dict[str, Any], dict[str, Any]], bool] | None = None
    gold: tuple[GoldItem, ...] = ()
    #: the task's remote procedures ([task.procedures]), imported here so `check` and `launch` refuse a bad module
    procedures: ProcedureRegistry | None = None

    @classmethod
    def from_config(cls, config: TaskConfig, blueprint: Blueprint | None = None) -> RunRules:
        """Import the validators and read the gold file the task file names (ConfigError when one is wrong).

        With the task's `blueprint`, also refuse rules that could never apply to it (see `check_rules_fit`).
        """
        task = config.task
        from mephisto_core.operations.run.quality_rules import check_rules  # it imports the data model

        check_rules(config)
        if blueprint is not None and task.onboarding is not None and not blueprint.has_onboarding():
            raise ConfigError(
                f"[task.onboarding] grades an onboarding page, but this {config.blueprint_type!r} blueprint shows "
                f"none, so the rules would never apply: give the blueprint an onboarding page (`mephisto wut "
                f"blueprint={config.blueprint_type}` names its setting) or remove [task.onboarding]",
                file=config.path,
                key="task.onboarding",
                line=_line_of(config.path, "task", "onboarding"),
            )
        onboarding: Callable[[dict[str, Any]], bool] | None = None
        if task.onboarding is not None:
            if task.onboarding.validator is not None:
                onboarding = load_function(
                    task.onboarding.validator, config.task_dir, "task.onboarding.validator", config.path
                )
            else:
                expected = dict(task.onboarding.answers or {})

                def onboarding(outputs: dict[str, Any]) -> bool:
                    return not wrong_answers(expected, outputs)

        screening = None
        if task.screening is not None:
            screening = load_function(
                task.screening.validator, config.task_dir, "task.screening.validator", config.path
            )
        gold = tuple(load_gold(task.gold.data_jsonl, config.path)) if task.gold is not None else ()
        if task.gold is not None and task.maximum_units_per_worker:
            golds = gold_units_per_worker(task.maximum_units_per_worker, task.gold.every, len(gold))
            if golds >= task.maximum_units_per_worker:
                raise ConfigError(
                    f"maximum_units_per_worker = {task.maximum_units_per_worker} leaves a worker only gold units: "
                    f"gold units count towards it, and with every = {task.gold.every} and {len(gold)} gold units in "
                    f"the gold file every one of a worker's units would be gold. Raise it, or raise task.gold.every",
                    file=config.path,
                    key="task.maximum_units_per_worker",
                    line=_line_of(config.path, "task", "maximum_units_per_worker"),
                )
        procedures = load_procedures(task.procedures, config.path)
        return cls(onboarding=onboarding, screening=screening, gold=gold, procedures=procedures)


def gold_units_per_worker(units_done: int, every: int, gold_items: int) -> int:
    """How many of a worker's first `units_done` units are gold: their 1st, then every `every`-th, while gold units
    they have not seen remain (a worker never sees one twice)."""
    return min(gold_items, math.ceil(units_done / every))


def expected_gold_units(units: int, every: int, gold_items: int, max_per_worker: int) -> int:
    """The gold units a run of `units` units pays for when each worker does their full share (all of
    `max_per_worker`, or every unit when there is no limit). Fewer units per worker means more workers, each
    starting with a gold unit, so more gold units: this is the least the run will pay for them."""
    if units <= 0 or gold_items <= 0:
        return 0
    if max_per_worker:
        golds = gold_units_per_worker(max_per_worker, every, gold_items)
        workers = math.ceil(units / max(1, max_per_worker - golds))
        return workers * golds
    if every == 1:
        return gold_items  # one worker: every gold unit first, then the real ones
    # One worker doing everything: gold at positions 0, every, 2*every, ... of all they do.
    return min(gold_items, math.ceil(units / (every - 1)))


def _line_of(path: Path, section: str, key: str) -> int | None:
    """The line of `[section.key]` or of `key = ...` under `[section]` in the task file (best effort)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    table = re.compile(r"^\s*\[\s*" + re.escape(f"{section}.{key}") + r"\s*[\].]")  # [task.onboarding(.answers)]
    for number, line in enumerate(lines, start=1):
        if table.match(line):
            return number
    header, any_header = re.compile(r"^\s*\[\s*" + re.escape(section) + r"\s*\]"), re.compile(r"^\s*\[")
    assignment = re.compile(r"^\s*" + re.escape(key) + r"\s*[=.]")  # key = ... or key.sub = ...
    inside = False
    for number, line in enumerate(lines, start=1):
        if any_header.match(line):
            inside = bool(header.match(line))
        elif inside and assignment.match(line):
            return number
    return None
