"""`mephisto launch --join` refuses clearly, before serving anything: on SQLite, for a provider whose platform
sends workers to the first launch's link only, and when no live launch of the task exists to join."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import assert_clean_failure

from mephisto_core.settings import Settings
from mephisto_core.testing.postgres import reset_database


@pytest.fixture
def on_postgres(postgres_url: str, isolated_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CLI's settings point at the test session's PostgreSQL database, emptied afterwards."""
    monkeypatch.setenv("MEPHISTO_DATABASE_URL", postgres_url)
    try:
        yield postgres_url
    finally:
        reset_database(postgres_url)


def test_join_on_sqlite_says_it_needs_postgresql_and_how(run_cli, test_plugin, task_dir: Path) -> None:
    out = assert_clean_failure(run_cli("launch", task_dir / "task.toml", "--join", "--no-panel"))
    assert "--join needs PostgreSQL" in out
    assert "MEPHISTO_DATABASE_URL" in out and "launch without --join" in out


def test_join_refuses_a_provider_that_publishes_units(run_cli, test_plugin, task_dir: Path, on_postgres: str) -> None:
    out = assert_clean_failure(run_cli("launch", task_dir / "task.toml", "--join", "--no-panel"))
    assert "--join cannot serve a task of provider 'clitest_pay'" in out
    assert "mock, inhouse" in out


def test_join_without_a_live_launch_says_there_is_nothing_to_join(
    run_cli, mephisto_init: Callable[..., Path], on_postgres: str
) -> None:
    task = mephisto_init("static")
    out = assert_clean_failure(run_cli("launch", task, "architect.port=0", "--join", "--no-panel"))
    assert "nothing to join" in out and "Launch it without --join first" in out
