"""`mephisto wut`: the kinds, the installed types, and every argument of one type."""

from __future__ import annotations

import typing
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from cli_helpers import assert_clean_failure
from pydantic import BaseModel, Field

from mephisto_core.cli._fields import describe_model, readable_type


def row_of(output: str, name: str) -> str:
    """The table line whose first cell is `name`."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if cells and cells[0] == name:
            return line
    raise AssertionError(f"no row {name!r} in:\n{output}")


def test_wut_without_arguments_gives_an_overview_of_kinds_and_types(run_cli, test_plugin):
    result = run_cli("wut")

    assert result.exit_code == 0, result.output
    assert "mephisto wut task" in row_of(result.output, "task")
    assert "clitest_csv (cli_test_plugin)" in row_of(result.output, "blueprint")
    assert "clitest_arch (cli_test_plugin)" in row_of(result.output, "architect")
    assert "clitest_pay (cli_test_plugin)" in row_of(result.output, "provider")


def test_wut_kind_lists_installed_types_with_their_distribution(run_cli, test_plugin):
    result = run_cli("wut", "blueprint")

    assert result.exit_code == 0, result.output
    line = row_of(result.output, "clitest_csv")
    assert "cli_test_plugin" in line
    assert "Test blueprint: one assignment per row of a CSV file." in line


def test_wut_type_shows_every_argument_with_type_default_required_and_help(run_cli, test_plugin):
    result = run_cli("wut", "blueprint=clitest_csv")

    assert result.exit_code == 0, result.output
    out = result.output
    assert "blueprint type 'clitest_csv' from cli_test_plugin" in out
    assert '[blueprint] arguments (with type = "clitest_csv")' in out
    assert "A second paragraph" not in out
    data = [c.strip() for c in row_of(out, "data_csv").split("│")]
    assert data[1:6] == ["data_csv", "Path", "", "yes", "CSV file with one assignment per row."]
    note = [c.strip() for c in row_of(out, "note").split("│")]
    assert note[1:6] == ["note", "str | None", "(none)", "no", "Free text shown nowhere."]
    mode = [c.strip() for c in row_of(out, "mode").split("│")]
    assert mode[2:4] == ["'plain' | 'fancy'", '"plain"']


def test_wut_accepts_the_type_as_a_second_argument(run_cli, test_plugin):
    joined = run_cli("wut", "architect=clitest_arch")
    spaced = run_cli("wut", "architect", "clitest_arch")

    assert joined.exit_code == spaced.exit_code == 0
    assert joined.output == spaced.output
    assert "Port to listen on (0 = any free port)." in row_of(joined.output, "port")


def test_wut_provider_also_shows_the_credentials_it_takes(run_cli, test_plugin):
    result = run_cli("wut", "provider=clitest_pay")

    assert result.exit_code == 0, result.output
    assert "credentials: mephisto register clitest_pay NAME key=value ..." in result.output
    assert "yes" in row_of(result.output, "api_key")
    assert "Registered requester account" in row_of(result.output, "requester_name")


def test_wut_task_describes_the_task_section(run_cli):
    result = run_cli("wut", "task")

    assert result.exit_code == 0, result.output
    assert "[task] arguments" in result.output
    reward = [c.strip() for c in row_of(result.output, "reward").split("│")]
    assert reward[2:5] == ["Decimal (>= 0, <= 10000)", "0.0", "no"]
    assert "list[str]" in row_of(result.output, "tags")
    assert "yes" in row_of(result.output, "name")


def test_wut_unknown_kind_lists_the_kinds(run_cli):
    out = assert_clean_failure(run_cli("wut", "blueprints=static"), exit_code=2)
    assert "unknown kind 'blueprints'; use one of: task, blueprint, architect, provider" in out


def test_wut_task_has_no_types(run_cli):
    out = assert_clean_failure(run_cli("wut", "task=anything"), exit_code=2)
    assert "the [task] section has no types" in out


def test_wut_empty_type_after_equals_is_a_usage_error(run_cli):
    out = assert_clean_failure(run_cli("wut", "provider="), exit_code=2)
    assert "give a type after '='" in out


def test_wut_unknown_type_lists_installed_ones(run_cli, test_plugin):
    out = assert_clean_failure(run_cli("wut", "provider=clitest_known"))
    assert "unknown provider type 'clitest_known'; installed provider types:" in out
    assert "clitest_pay" in out
    # No table of distributions that may not exist: the core does not guess a pip command.
    assert "pip install" not in out
    assert "`mephisto plugins` lists what is installed" in out


class _Sample(BaseModel):
    path: Path | None = None
    names: list[str] = Field(default_factory=lambda: ["a", "b"])
    counts: dict[str, int] = Field(default_factory=dict)
    level: Literal["low", "high"] = "low"
    price: Annotated[Decimal, Field(ge=0)] = Decimal("1.5")
    anything: Any = None
    pair: tuple[int, ...] = (1, 2)


@pytest.mark.parametrize(
    ("annotation", "text"),
    [
        (Path | None, "Path | None"),
        (typing.Optional[int], "int | None"),  # noqa: UP045 - the old spelling must read the same
        (list[str], "list[str]"),
        (dict[str, int], "dict[str, int]"),
        (Literal["low", "high"], "'low' | 'high'"),
        (Annotated[Decimal, "meta"], "Decimal"),
        (tuple[int, ...], "tuple[int, ...]"),
        (Any, "Any"),
    ],
)
def test_types_read_the_way_they_are_written(annotation, text):
    assert readable_type(annotation) == text


def test_defaults_read_as_toml_and_factories_are_called():
    rows = {row.name: row for row in describe_model(_Sample)}

    assert rows["path"].default == "(none)"
    assert rows["names"].default == '["a", "b"]'
    assert rows["counts"].default == "{}"
    assert rows["level"].default == '"low"'
    assert rows["price"].default == "1.5"
    assert rows["pair"].default == "[1, 2]"
    assert not any(row.required for row in rows.values())
