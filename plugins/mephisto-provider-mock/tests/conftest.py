"""Fixtures: a worker holding a unit in a real SQLite database (the core's shared fixture), and a mock provider."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mephisto_provider_mock.provider import MockProvider

from mephisto_core.testing import HeldUnit


@pytest.fixture
def worked_unit(make_held_unit: Callable[..., HeldUnit]) -> HeldUnit:
    """Worker alice holding unit 0 of a one-assignment mock run, through one agent."""
    return make_held_unit(provider_type="mock", requester_name="MOCK_REQUESTER", sandbox=True)


@pytest.fixture
def provider(tmp_path: Path) -> MockProvider:
    data_dir = tmp_path / "data"
    return MockProvider(MockProvider.Args(), "MOCK_REQUESTER", {}, data_dir)
