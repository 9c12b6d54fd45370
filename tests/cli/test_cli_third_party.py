"""A third-party provider distribution, built and pip-installed here, works with no change to the core.

The distribution is made in a temp folder with its own pyproject.toml and `mephisto` entry point, installed
into a folder on PYTHONPATH (not into the environment), and exercised through fresh `mephisto` processes (which
read entry points anew).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import DATA_CSV, TASK_TOML, run_mephisto

DIST = "mephisto-provider-thirdparty-test"
MODULE = "mephisto_provider_thirdparty_test"
TYPE = "thirdparty_test"
VERSION = "0.3.1"
HERE = Path(__file__).resolve().parent

PYPROJECT = f"""\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{DIST}"
version = "{VERSION}"
description = "A crowd provider that lives outside the mephisto repository."
requires-python = ">=3.11"

[project.entry-points.mephisto]
{TYPE} = "{MODULE}.plugin"

[tool.setuptools.packages.find]
where = ["src"]
"""

PLUGIN = '''\
"""Entry point: registers the provider type `thirdparty_test`."""

from mephisto_core.hookspecs import hookimpl


@hookimpl
def mephisto_register_providers(register):
    # Imported when the registry is built, never for `mephisto --help`.
    from mephisto_provider_thirdparty_test.provider import ThirdPartyProvider

    register(ThirdPartyProvider)
'''

PROVIDER = '''\
"""A provider on a made-up platform that charges a 10% fee."""

from decimal import Decimal

from pydantic import Field

from mephisto_core.abstractions import CrowdProvider, ProviderArgs, RequesterArgs


class ThirdPartyArgs(ProviderArgs):
    planet: str = Field(default="earth", description="Where the platform finds its workers.")


class ThirdPartyRequesterArgs(RequesterArgs):
    account_token: str = Field(description="Token of the platform account.")


class ThirdPartyProvider(CrowdProvider):
    """Made-up platform, installed from a distribution outside the repository."""

    type_name = "thirdparty_test"
    Args = ThirdPartyArgs
    RequesterArgs = ThirdPartyRequesterArgs
    default_requester_name = "thirdparty-default"

    def fee(self, amount):
        return amount * Decimal("0.1")
'''


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input", "--quiet"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _build_isolation_flags() -> list[str]:
    """Build with the environment's own setuptools when it can make wheels (no download needed).

    setuptools before 70.1 needs the separate `wheel` package for that; without it, let pip fetch a build
    environment instead of failing on a machine that lacks `wheel`.
    """
    import importlib.util

    can_build_here = (
        importlib.util.find_spec("wheel") is not None
        or importlib.util.find_spec("setuptools.command.bdist_wheel") is not None
    )
    return ["--no-build-isolation"] if can_build_here else []


@pytest.fixture(scope="module")
def third_party_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Build the distribution in a temp folder and install it into a folder of its own, put on PYTHONPATH of the
    `mephisto` processes this module starts.

    Not into the environment: another test session (pytest-xdist workers, another person's run) reading entry
    points while pip installs or uninstalls would see a half-installed distribution.
    """
    root = tmp_path_factory.mktemp("thirdparty-dist")
    package = root / "src" / MODULE
    package.mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (package / "__init__.py").write_text('"""A third-party mephisto provider."""\n', encoding="utf-8")
    (package / "plugin.py").write_text(PLUGIN, encoding="utf-8")
    (package / "provider.py").write_text(PROVIDER, encoding="utf-8")
    target = tmp_path_factory.mktemp("thirdparty-site")

    installed = pip("install", "--no-deps", *_build_isolation_flags(), "--target", str(target), str(root))
    assert installed.returncode == 0, f"pip install failed:\n{installed.stdout}\n{installed.stderr}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in [str(target), os.environ.get("PYTHONPATH", "")] if p))
        yield TYPE


def test_third_party_distribution_appears_in_plugins(third_party_provider):
    result = run_mephisto("plugins", "--json")

    assert result.returncode == 0, result.stderr
    records = {record["name"]: record for record in json.loads(result.stdout)}
    assert records[DIST]["version"] == VERSION
    assert records[DIST]["types"]["provider"] == [TYPE]
    assert records[DIST]["modules"] == [f"{MODULE}.plugin"]


def test_third_party_provider_is_described_by_wut(third_party_provider):
    result = run_mephisto("wut", f"provider={TYPE}")

    assert result.returncode == 0, result.stderr
    assert f"provider type '{TYPE}' from {DIST} {VERSION}" in result.stdout
    assert "planet" in result.stdout
    assert "Where the platform finds its workers." in result.stdout
    assert "account_token" in result.stdout  # the credentials table


def test_third_party_provider_is_usable_as_a_type_in_a_task_file(third_party_provider, tmp_path):
    (tmp_path / "data.csv").write_text(DATA_CSV, encoding="utf-8")
    provider_section = TASK_TOML[TASK_TOML.index("[provider]") :]
    task_toml = TASK_TOML.replace(provider_section, f'[provider]\ntype = "{TYPE}"\nplanet = "mars"\n')
    (tmp_path / "task.toml").write_text(task_toml, encoding="utf-8")
    # The blueprint and architect come from the in-repo test plugin, registered in the child process before
    # the CLI runs; the provider comes only from the installed distribution's entry point.
    code = (
        "import sys, cli_test_plugin; from mephisto_core import plugins; "
        "plugins.register_plugin(cli_test_plugin); from mephisto_core.cli import main; "
        "sys.argv = ['mephisto', *sys.argv[1:]]; main()"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}

    result = subprocess.run(
        [sys.executable, "-c", code, "check", str(tmp_path / "task.toml"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["config"]["provider"] == {"type": TYPE, "requester_name": None, "planet": "mars"}
    assert report["requester_name"] == "thirdparty-default"
    assert report["units"] == 6
    assert report["provider_fee"] == "0.30"
    assert report["estimated_cost"] == "3.30"
