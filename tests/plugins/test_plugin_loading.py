"""Loading one entry point on its own, and the provider's data folder as plugins and the core both see it."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pluggy
import pytest

from mephisto_core import hookspecs
from mephisto_core.operations.providers import build_provider
from mephisto_core.plugin_loading import LoadedPlugins, normalized_name, selected
from mephisto_core.settings import Settings


def _loaded() -> LoadedPlugins:
    pm = pluggy.PluginManager("mephisto")
    pm.add_hookspecs(hookspecs)
    return LoadedPlugins(pm)


def test_a_misspelled_hook_leaves_its_plugin_out_and_says_why(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "typo_plugin.py").write_text(
        "from mephisto_core.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef mephisto_register_provider(register):\n    pass\n",
        encoding="utf-8",
    )
    (tmp_path / "good_plugin.py").write_text(
        "from mephisto_core.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef mephisto_register_providers(register):\n    pass\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = _loaded()

    loaded.load_entry_point(EntryPoint("typo", "typo_plugin", "mephisto"))
    loaded.load_entry_point(EntryPoint("good", "good_plugin", "mephisto"))

    (failure,) = loaded.failures
    assert failure.stage == "its hooks do not match the core's"
    assert "mephisto_register_provider" in failure.error
    assert [getattr(p, "__name__", "") for p in loaded.entry_point_plugins()] == ["good_plugin"]
    assert capsys.readouterr().err.count("is left out") == 1


def test_an_import_that_exits_does_not_end_the_process(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "exiting_plugin.py").write_text("raise SystemExit(3)\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = _loaded()

    loaded.load_entry_point(EntryPoint("exiting", "exiting_plugin", "mephisto"))

    (failure,) = loaded.failures
    assert failure.error == "SystemExit(3)"


@pytest.mark.parametrize(
    ("only", "disabled", "expected"),
    [
        (None, set(), {"mephisto-provider-mock", "Mephisto_Blueprint.Static"}),
        ({"mephisto-blueprint-static"}, set(), {"Mephisto_Blueprint.Static"}),
        (set(), set(), set()),
        (None, {"mephisto-provider-mock"}, {"Mephisto_Blueprint.Static"}),
    ],
)
def test_distribution_selection_compares_names_as_pip_does(only, disabled, expected) -> None:
    names = ["mephisto-provider-mock", "Mephisto_Blueprint.Static"]
    assert selected(names, only, disabled) == expected
    assert normalized_name("Mephisto_Blueprint.Static") == "mephisto-blueprint-static"


def test_the_provider_data_folder_is_the_same_for_the_core_and_a_plugins_own_commands(
    mephisto_settings: Settings,
) -> None:
    built = build_provider(mephisto_settings, "mock", {})

    assert built.data_dir == type(built).data_dir_under(mephisto_settings.data_dir)
    assert built.data_dir == mephisto_settings.data_dir / "providers" / "mock"
