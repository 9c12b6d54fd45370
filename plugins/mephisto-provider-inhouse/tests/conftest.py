"""Fixtures: the in-house provider built the way the core builds it, its roster, the CLI, and a worked unit."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
from click.testing import Result
from mephisto_provider_inhouse.provider import InhouseProvider
from mephisto_provider_inhouse.roster import RosterWorker, edit_roster, new_worker, roster_path

from mephisto_core.operations.providers import build_provider
from mephisto_core.settings import Settings
from mephisto_core.testing import HeldUnit


@pytest.fixture
def provider(mephisto_settings: Settings) -> InhouseProvider:
    """The provider as `mephisto launch` builds it: data dir `<MEPHISTO_DATA_DIR>/providers/inhouse`."""
    built = build_provider(mephisto_settings, "inhouse", {})
    assert isinstance(built, InhouseProvider)
    return built


@pytest.fixture
def add_workers(provider: InhouseProvider) -> Callable[..., dict[str, RosterWorker]]:
    """`add_workers("alice", "bob")` puts workers with fresh tokens in the provider's roster; returns them."""

    def add(*names: str) -> dict[str, RosterWorker]:
        with edit_roster(roster_path(provider.data_dir)) as workers:
            for name in names:
                workers[name] = new_worker(name)
            return {name: workers[name] for name in names}

    return add


@pytest.fixture
def run_cli(mephisto_cli: Callable[..., Result]) -> Callable[..., Result]:
    """`run_cli("inhouse", "list")` runs the real `mephisto` command group in-process against tmp settings."""
    return functools.partial(mephisto_cli, catch_exceptions=False)


@pytest.fixture
def worked_unit(make_held_unit: Callable[..., HeldUnit]) -> HeldUnit:
    """In-house worker alice holding unit 0 of a one-assignment run, through one agent."""
    return make_held_unit(provider_type="inhouse", requester_name="INHOUSE", sandbox=False)
