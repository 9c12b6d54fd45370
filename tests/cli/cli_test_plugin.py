"""A test-only plugin: a tiny blueprint, architect and provider (with Args) and one command.

Registered by the `test_plugin` fixture through `mephisto_core.plugins.register_plugin`, exactly as an
installed distribution's entry-point module would be, so the CLI sees these types as real ones.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

import click
from pydantic import Field

from mephisto_core.abstractions import (
    Architect,
    ArchitectArgs,
    Blueprint,
    BlueprintArgs,
    CrowdProvider,
    ProviderArgs,
    RequesterArgs,
)
from mephisto_core.errors import ConfigError, ProviderError
from mephisto_core.hookspecs import hookimpl

BLUEPRINT = "clitest_csv"
ARCHITECT = "clitest_arch"
PROVIDER = "clitest_pay"
COMMAND = "clitest-hello"
FEE_RATE = Decimal("0.2")
REJECTED_KEY = "rejected-by-platform"


class CsvBlueprintArgs(BlueprintArgs):
    """The `[blueprint]` section of the test blueprint."""

    data_csv: Path = Field(description="CSV file with one assignment per row.")
    note: str | None = Field(default=None, description="Free text shown nowhere.")
    mode: Literal["plain", "fancy"] = Field(default="plain", description="How the page looks.")
    explode: bool = Field(default=False, description="Make count_assignments fail like a buggy plugin.")


class CsvBlueprint(Blueprint):
    """Test blueprint: one assignment per row of a CSV file.

    A second paragraph that `wut` does not show.
    """

    type_name: ClassVar[str] = BLUEPRINT
    Args: ClassVar[type[BlueprintArgs]] = CsvBlueprintArgs

    def check(self) -> None:
        path = self.args.data_csv  # type: ignore[attr-defined]
        if not path.is_file():
            raise ConfigError(f"data file {path} not found", key="blueprint.data_csv")
        if not list(self.iter_assignments()):
            raise ConfigError(f"data file {path} has no rows", key="blueprint.data_csv")

    def iter_assignments(self) -> Iterator[dict[str, Any]]:
        with self.args.data_csv.open(newline="", encoding="utf-8") as fh:  # type: ignore[attr-defined]
            yield from csv.DictReader(fh)

    def count_assignments(self) -> int:
        if self.args.explode:  # type: ignore[attr-defined]
            raise RuntimeError("the plugin fell over")
        return super().count_assignments()


class ClitestArchitectArgs(ArchitectArgs):
    """The `[architect]` section of the test architect."""

    port: int = Field(default=0, ge=0, le=65535, description="Port to listen on (0 = any free port).")


class ClitestArchitect(Architect):
    """Test architect that never deploys."""

    type_name: ClassVar[str] = ARCHITECT
    Args: ClassVar[type[ArchitectArgs]] = ClitestArchitectArgs


class ClitestProviderArgs(ProviderArgs):
    """The `[provider]` section of the test provider."""

    sandbox: bool = Field(default=True, description="Use the platform's sandbox.")
    webhook_token: str | None = Field(default=None, description="Secret the platform signs callbacks with.")


class ClitestRequesterArgs(RequesterArgs):
    """Credentials of the test provider."""

    api_key: str = Field(description="The account's API key.")
    region: str = Field(default="us-east", description="Where the account lives.")
    max_spend: Decimal | None = Field(default=None, description="Stop paying past this amount.")


class ClitestProvider(CrowdProvider):
    """Test provider that takes a 20% fee."""

    type_name: ClassVar[str] = PROVIDER
    Args: ClassVar[type[ProviderArgs]] = ClitestProviderArgs
    RequesterArgs: ClassVar[type[RequesterArgs]] = ClitestRequesterArgs

    @classmethod
    def validate_credentials(cls, credentials: Any) -> dict[str, Any]:
        if credentials.get("api_key") == REJECTED_KEY:
            raise ProviderError("the platform refused this API key: log in to its dashboard and make a new one")
        return super().validate_credentials(credentials)

    def fee(self, amount: Decimal) -> Decimal:
        return amount * FEE_RATE


@click.command(COMMAND)
def hello() -> None:
    """Say hello (a command added by a plugin)."""
    click.echo("hello from the test plugin")


@hookimpl
def mephisto_register_blueprints(register: Callable[[type[Blueprint]], None]) -> None:
    register(CsvBlueprint)


@hookimpl
def mephisto_register_architects(register: Callable[[type[Architect]], None]) -> None:
    register(ClitestArchitect)


@hookimpl
def mephisto_register_providers(register: Callable[[type[CrowdProvider]], None]) -> None:
    register(ClitestProvider)


@hookimpl
def mephisto_register_commands(cli: click.Group) -> None:
    cli.add_command(hello)
