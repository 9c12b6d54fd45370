"""`mephisto check`: validate a task file without launching; show its configuration, size and cost."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import Callable

    from mephisto_core.abstractions.platform_sync import RequirementMapping
    from mephisto_core.cli._check_cost import CostReport
    from mephisto_core.settings import Settings
    from mephisto_core.task_config import TaskConfig


@dataclass(frozen=True)
class CheckReport:
    """What `check` found: the resolved configuration (secrets masked), the work it makes and its cost."""

    config: dict[str, Any]
    assignments: int
    units_per_assignment: int
    requester_name: str | None
    reward: Decimal
    fee: Decimal
    #: gold units the run pays for on top of `units` (at least this many: see `expected_gold_units`)
    gold_units: int = 0
    #: how the provider enforces the task's qualification requirements (platform or mephisto's own check only)
    requirements: RequirementMapping | None = None
    #: worst-case cost with the bonus budget, the cap and the platform balance (cli/_check_cost.py)
    money: CostReport | None = None

    @property
    def units(self) -> int:
        return self.assignments * self.units_per_assignment

    @property
    def paid_units(self) -> int:
        return self.units + self.gold_units

    @property
    def total_reward(self) -> Decimal:
        return self.reward * self.paid_units

    @property
    def cost(self) -> Decimal:
        return self.total_reward + self.fee


@click.command()
@click.argument("task_file", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("overrides", nargs=-1, metavar="[SECTION.KEY=VALUE]...")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (for scripts).")
def check(task_file: Path, overrides: tuple[str, ...], as_json: bool) -> None:
    """Validate TASK_FILE (with overrides) and show what it would launch and what it would cost.

    Nothing is launched and the database is not touched. Exits with status 1 and a message naming the
    file, key and line of the first problem.
    """
    from mephisto_core.cli.context import load_settings
    from mephisto_core.task_config import load_task_config

    settings = load_settings()
    config = load_task_config(task_file, overrides)
    report = build_report(config, settings)
    if as_json:
        # default=str: Decimal and Path values print as their exact text.
        click.echo(json.dumps(_report_json(report), indent=2, default=str))
    else:
        _print_report(config.path, report)


def build_report(config: TaskConfig, settings: Settings) -> CheckReport:
    """Run the blueprint's own checks, count the work its data makes, and price it with the provider's fee."""
    from mephisto_core.errors import ConfigError
    from mephisto_core.plugins import KINDS, get_registry

    registry = get_registry()
    blueprint_cls = registry.get("blueprint", config.blueprint_type)
    blueprint = _call_plugin(
        "blueprint",
        config.blueprint_type,
        "start",
        lambda: blueprint_cls(config.blueprint_args, config.task, config.task_dir),
    )
    try:
        _call_plugin("blueprint", config.blueprint_type, "check the task", blueprint.check)
    except ConfigError as exc:
        if exc.file is not None:
            raise
        # The blueprint knows the key, not which file it came from: point at the task file.
        raise ConfigError(exc.detail, file=config.path, key=exc.key, line=exc.line) from exc
    assignments = _call_plugin("blueprint", config.blueprint_type, "count the assignments", blueprint.count_assignments)
    architect_cls = registry.get("architect", config.architect_type)
    architect = _call_plugin(
        "architect",
        config.architect_type,
        "start",
        lambda: architect_cls(config.architect_args, settings.runs_dir),
    )
    # e.g. the local architect's port already taken: better found now than at launch.
    _call_plugin("architect", config.architect_type, "check its arguments", architect.check)
    from mephisto_core.operations.run.worker_rules import RunRules, expected_gold_units

    # Imports the validators, reads the gold file, refuses rules this blueprint could never apply.
    rules = RunRules.from_config(config, blueprint)
    units = assignments * config.task.units_per_assignment
    gold_units = 0
    if config.task.gold is not None:
        gold = config.task.gold
        gold_units = expected_gold_units(units, gold.every, len(rules.gold), config.task.maximum_units_per_worker)

    provider_cls = registry.get("provider", config.provider_type)
    from mephisto_core.abstractions.public_url import check_public_https

    _call_plugin(
        "architect",
        config.architect_type,
        "say whether it serves public https",
        lambda: check_public_https(provider_cls, architect, config.path),
    )
    requester_name = getattr(config.provider_args, "requester_name", None) or provider_cls.default_requester_name
    # Only the fee is asked of the provider here, so no credentials are loaded: check never needs secrets.
    provider = _call_plugin(
        "provider",
        config.provider_type,
        "start",
        lambda: provider_cls(config.provider_args, requester_name or "", {}, settings.data_dir),
    )
    from mephisto_core.cli._check_cost import build_cost

    reward_total = config.task.reward * (units + gold_units)  # gold units are paid like any other
    fee = _call_plugin("provider", config.provider_type, "compute its fee", lambda: provider.fee(reward_total))
    requirements = _call_plugin(
        "provider",
        config.provider_type,
        "map the qualification requirements",
        lambda: provider.platform_requirements(config.task.qualifications),
    )

    # Python values (Decimal, Path), not JSON strings: the tree prints them as TOML, so 0.5 stays a number.
    masked: dict[str, Any] = {"task": _mask_section(config.task.model_dump(), type(config.task))}
    for kind in KINDS:
        args = config.args_of(kind)
        masked[kind] = {"type": config.type_of(kind), **_mask_section(args.model_dump(), type(args))}
    return CheckReport(
        config=masked,
        assignments=assignments,
        units_per_assignment=config.task.units_per_assignment,
        requester_name=requester_name,
        reward=config.task.reward,
        fee=Decimal(fee),
        gold_units=gold_units,
        requirements=requirements,
        money=_call_plugin(
            "provider",
            config.provider_type,
            "price the task",
            lambda: build_cost(config, settings, provider, requester_name, reward_total + Decimal(fee)),
        ),
    )


def _call_plugin(kind: str, type_name: str, doing: str, call: Callable[[], T]) -> T:
    """Run plugin code; anything but a MephistoError it raises is a plugin failure, reported as one line."""
    from mephisto_core.errors import MephistoError

    try:
        return call()
    except MephistoError:
        raise
    except Exception as exc:
        raise click.ClickException(f"the {kind} {type_name!r} failed to {doing}: {type(exc).__name__}: {exc}") from exc


def _mask_section(values: dict[str, Any], model: type[Any]) -> dict[str, Any]:
    from mephisto_core.cli._fields import mask_values, secret_fields_of

    return mask_values(values, secret_fields_of(model))


def money(value: Decimal) -> str:
    """Two decimals for whole cents, every digit for fractions of a cent (never hides part of the cost)."""
    if value == value.quantize(Decimal("0.01")):
        return f"{value:.2f}"
    return format(value.normalize(), "f")


def _report_json(report: CheckReport) -> dict[str, Any]:
    from mephisto_core.cli._check_cost import cost_json

    return {
        "config": report.config,
        "requester_name": report.requester_name,
        "assignments": report.assignments,
        "units_per_assignment": report.units_per_assignment,
        "units": report.units,
        "gold_units": report.gold_units,
        "reward_per_unit": money(report.reward),
        "total_reward": money(report.total_reward),
        "provider_fee": money(report.fee),
        "estimated_cost": money(report.cost),
        **({} if report.money is None else cost_json(report.money)),
        "qualifications": _requirements_json(report),
    }


def _requirements_json(report: CheckReport) -> dict[str, dict[str, str]]:
    mapping = report.requirements
    return (
        {"platform": {}, "local_only": {}}
        if mapping is None
        else {
            "platform": mapping.platform,
            "local_only": mapping.local_only,
        }
    )


def _requirement_lines(report: CheckReport) -> list[str]:
    from mephisto_core.abstractions.platform_sync import requirement_lines

    return [] if report.requirements is None else requirement_lines(report.requirements)


def _print_report(path: Path, report: CheckReport) -> None:
    from rich.text import Text
    from rich.tree import Tree

    from mephisto_core.cli._check_cost import print_cost
    from mephisto_core.cli._fields import toml_literal
    from mephisto_core.cli._tables import console

    out = console()
    tree = Tree(Text(f"{path} is valid", style="bold green"))
    for section, values in report.config.items():
        label = f"[{section}]"
        if "type" in values and section != "task":
            label += f" type = {toml_literal(values['type'])}"
        branch = tree.add(Text(label, style="bold"))
        for key, value in values.items():
            if key != "type" or section == "task":
                branch.add(Text(f"{key} = {toml_literal(value)}"))
    out.print(tree)
    requester = report.requester_name or "(none: set provider.requester_name)"
    out.print(Text(f"Requester:      {requester}"))
    out.print(Text(f"Assignments:    {report.assignments}"))
    per = report.units_per_assignment
    out.print(Text(f"Units:          {report.units} ({report.assignments} assignments x {per} each)"))
    if report.gold_units:
        out.print(
            Text(
                f"Gold units:     {report.gold_units} or more (paid like any unit; each worker's first unit is gold, "
                "so more workers doing fewer units each means more)"
            )
        )
    paid = f"{report.units} units" + (f" + {report.gold_units} gold units" if report.gold_units else "")
    out.print(Text(f"Rewards:        {money(report.total_reward)} ({money(report.reward)} x {paid})"))
    schedule = f" ({report.money.fee_schedule})" if report.money is not None else ""
    out.print(Text(f"Provider fee:   {money(report.fee)}{schedule}"))
    out.print(Text(f"Estimated cost: {money(report.cost)}", style="bold"))
    if report.money is not None:
        print_cost(out, report.money)
    for index, line in enumerate(_requirement_lines(report)):
        out.print(Text(("Qualifications: " if index == 0 else " " * 16) + line))
