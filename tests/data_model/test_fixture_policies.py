"""The shared test fixtures themselves: empty databases per test, the skip-or-fail policy, the browser."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mephisto_core.data_model import Database, Task
from mephisto_core.settings import Settings
from mephisto_core.testing import postgres
from mephisto_core.testing.browser import BrowserUnavailable, check_browser_available
from mephisto_core.testing.pytest_plugin import DatabaseTarget, unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Page

_TWO_TESTS_WRITING_THE_SAME_ROW = """
import pytest
from mephisto_core.data_model import Task

@pytest.mark.parametrize("attempt", [1, 2])
def test_writes_the_only_task(database, attempt):
    assert Task.select().count() == 0
    with database.write():
        Task.create(name="unique", blueprint_type="static")
"""


def test_each_test_gets_an_empty_database_on_both_backends(tmp_path: Path) -> None:
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(_TWO_TESTS_WRITING_THE_SAME_ROW)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(test_file),
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            "--rootdir",
            tmp_path,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout, result.stdout


def test_the_database_fixture_follows_the_settings(
    database: Database, database_target: DatabaseTarget, mephisto_settings: Settings
) -> None:
    assert mephisto_settings.database_url == database_target.url
    assert os.environ.get("MEPHISTO_DATABASE_URL") == database_target.url
    assert os.environ["MEPHISTO_DATA_DIR"] == str(mephisto_settings.data_dir)
    assert Task.select().count() == 0
    if database_target.kind == "sqlite":
        assert database.is_sqlite and mephisto_settings.sqlite_path.is_file()
    else:
        assert not database.is_sqlite


def test_a_missing_dependency_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        unavailable("install Chromium (Debian/Ubuntu: apt-get install chromium)")


def test_a_missing_dependency_fails_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install chromium.*CI=true"):
        unavailable("install Chromium (Debian/Ubuntu: apt-get install chromium)")


def test_a_missing_chromium_names_the_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(BrowserUnavailable, match="apt-get install chromium"):
        check_browser_available(tmp_path / "no-chromium-here")


def test_missing_postgres_binaries_name_the_package_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres, "_DEBIAN_BIN_GLOB", str(tmp_path / "postgresql" / "*" / "bin"))
    assert postgres.find_postgres_bin_dir() is None
    with pytest.raises(postgres.PostgresUnavailable, match="apt-get install postgresql"):
        postgres.start_postgres()


def test_postgres_binaries_are_found_in_debians_versioned_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in ("9", "15", "13"):
        bin_dir = tmp_path / "postgresql" / version / "bin"
        bin_dir.mkdir(parents=True)
        for tool in ("initdb", "pg_ctl"):
            (bin_dir / tool).write_text("")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(postgres, "_DEBIAN_BIN_GLOB", str(tmp_path / "postgresql" / "*" / "bin"))
    found = postgres.find_postgres_bin_dir()
    assert found is not None and found.initdb == tmp_path / "postgresql" / "15" / "bin" / "initdb"


@pytest.mark.parametrize(
    ("url", "admin_url"),
    [
        ("postgresql://me:pw@db.example:5433", "postgresql://me:pw@db.example:5433/postgres"),
        ("postgres://me@10.0.0.5/shared", "postgres://me@10.0.0.5/shared"),
    ],
)
def test_an_external_server_url_is_used_as_given(url: str, admin_url: str) -> None:
    server = postgres.external_server(url)
    assert server.admin_url == admin_url
    assert server.url_for("fresh_db").endswith("/fresh_db")
    server.stop()  # never touches an external server


def test_an_external_server_url_must_be_postgresql() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        postgres.external_server("mysql://root@localhost/db")


def test_the_page_fixture_renders_html_in_chromium(page: Page) -> None:
    page.set_content("<form><input name='answer' value='42'></form><p id='out'></p>")
    page.evaluate("document.getElementById('out').textContent = document.forms[0].answer.value")
    assert page.inner_text("#out") == "42"
    assert "Chrome" in page.evaluate("navigator.userAgent")


def test_asyncio_still_runs_in_a_test_after_a_browser_test() -> None:
    # Runs after the page test above: the session's playwright loop must not count as running here.
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert asyncio.run(answer()) == 42
