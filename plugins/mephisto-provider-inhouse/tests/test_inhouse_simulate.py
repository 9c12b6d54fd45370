"""Simulated workers (`mephisto launch --simulate`) get personal links that only this provider object knows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mephisto_provider_inhouse.provider import BAD_LINK_MESSAGE, InhouseProvider
from mephisto_provider_inhouse.roster import RosterWorker, read_roster, roster_path

from mephisto_core.abstractions import WorkerIdentity
from mephisto_core.errors import ProviderError


def test_a_simulated_worker_link_identifies_that_worker(provider: InhouseProvider) -> None:
    params = provider.simulated_worker_params("sim-0")

    assert set(params) == {"worker", "token"}
    assert params["worker"] == "sim-0"
    assert provider.identify_worker(params) == WorkerIdentity("sim-0")
    assert provider.simulated_worker_params("sim-0") == params  # asked again: the same link


def test_simulated_workers_never_enter_the_roster_and_die_with_the_provider(
    provider: InhouseProvider, add_workers: Callable[..., dict[str, RosterWorker]]
) -> None:
    add_workers("alice")
    params = provider.simulated_worker_params("sim-1")

    assert set(read_roster(roster_path(provider.data_dir))) == {"alice"}
    other = InhouseProvider(provider.args, provider.requester_name, {}, provider.data_dir)
    assert other.identify_worker(params) == WorkerIdentity(None, refusal=BAD_LINK_MESSAGE)


def test_a_simulated_link_with_a_wrong_token_is_refused(provider: InhouseProvider) -> None:
    params = provider.simulated_worker_params("sim-2")

    token = params["token"]
    wrong = token[:-1] + ("y" if token.endswith("x") else "x")  # a token ending in x stayed right 1 time in 64
    refused = provider.identify_worker({**params, "token": wrong})
    assert refused == WorkerIdentity(None, refusal=BAD_LINK_MESSAGE)


def test_a_simulated_worker_may_not_take_a_real_workers_name(
    provider: InhouseProvider, add_workers: Callable[..., dict[str, RosterWorker]]
) -> None:
    add_workers("sim-0")

    with pytest.raises(ProviderError, match="the in-house roster has a worker named 'sim-0'"):
        provider.simulated_worker_params("sim-0")
