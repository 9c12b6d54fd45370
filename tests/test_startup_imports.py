"""`mephisto --help` stays fast: it imports neither boto3, websockets nor any plugin's code."""

from __future__ import annotations

from mephisto_core.testing.imports import HELP_CODE, forbidden_startup_imports, modules_imported_by


def test_help_imports_no_heavy_or_plugin_modules() -> None:
    imported = modules_imported_by(HELP_CODE)
    assert "mephisto_core.cli" in imported  # the check really ran the CLI
    assert forbidden_startup_imports(imported) == []


def test_the_import_check_catches_a_forbidden_import() -> None:
    imported = modules_imported_by("import websockets.asyncio.server")
    assert "websockets" in forbidden_startup_imports(imported)
    assert forbidden_startup_imports(["mephisto_provider_mock.plugin", "botocore.session", "json"]) == [
        "botocore.session",
        "mephisto_provider_mock.plugin",
    ]
