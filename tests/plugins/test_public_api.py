"""Plugins use mephisto-core's public API only (mephisto_core.testing.public_api defines it); a scan says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from mephisto_core.testing.public_api import PUBLIC_PACKAGES, internal_core_imports, public_names

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = sorted(REPO.glob("plugins/*/src"))


def test_the_repository_has_plugins_to_scan() -> None:
    assert len(PLUGIN_SOURCES) >= 5


@pytest.mark.parametrize("source", PLUGIN_SOURCES, ids=lambda path: path.parent.name)
def test_plugin_imports_only_the_public_api_of_the_core(source: Path) -> None:
    found = internal_core_imports(source)
    assert found == [], "internal imports of mephisto_core (see docs/plugins.md, 'The public API'):\n" + "\n".join(
        str(item) for item in found
    )


def test_the_scan_finds_internal_modules_and_names_in_every_kind_of_import(tmp_path: Path) -> None:
    (tmp_path / "plugin.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import mephisto_core.operations.run.operator\n"
        "from mephisto_core.abstractions import CrowdProvider, ProviderArgs\n"
        "from mephisto_core.abstractions.provider import WorkerIdentity\n"
        "from mephisto_core.errors import ProviderError\n"
        "from mephisto_core import hookimpl, plugins\n"
        "if TYPE_CHECKING:\n"
        "    from mephisto_core.data_model import Agent, _private\n"
        "def command():\n"
        "    from mephisto_core.operations.providers import provider_data_dir\n",
        encoding="utf-8",
    )

    found = [(item.line, item.imported) for item in internal_core_imports(tmp_path)]

    assert found == [
        (2, "mephisto_core.operations.run.operator"),
        (4, "mephisto_core.abstractions.provider.WorkerIdentity"),
        (6, "mephisto_core.plugins"),
        (8, "mephisto_core.data_model._private"),
        (10, "mephisto_core.operations.providers.provider_data_dir"),
    ]


def test_every_public_package_says_what_it_exports() -> None:
    for package in PUBLIC_PACKAGES:
        assert public_names(package), f"{package} has no __all__: its public names would be none"
    assert "CrowdProvider" in public_names("mephisto_core.abstractions")
    assert "ActionLedger" in public_names("mephisto_core.abstractions")
    assert public_names("mephisto_core.operations") == frozenset()
