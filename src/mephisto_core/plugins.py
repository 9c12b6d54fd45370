"""The plugin manager and the registry of blueprint, architect and provider types.

Plugins are loaded from the `mephisto` entry-point group the first time they are needed (`mephisto --help`
never loads them), each on its own: a distribution whose module fails to import, or whose hook raises, is
reported once on stderr (distribution, version, exception) and left out, and everything else keeps working.
`MEPHISTO_LOAD_PLUGINS` / `MEPHISTO_DISABLE_PLUGINS` choose distributions; `MEPHISTO_TRACE_PLUGINS=1` traces
every hook call (see `PluginSettings`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from mephisto_core import hookspecs
from mephisto_core.errors import PluginError
from mephisto_core.plugin_loading import LoadedPlugins, PluginFailure, load_plugins, normalized_name

if TYPE_CHECKING:
    import click

    from mephisto_core.abstractions.leftovers import LeftoverCleaner

__all__ = [
    "KINDS",
    "DistributionInfo",
    "Kind",
    "PluginFailure",
    "Registry",
    "TypeEntry",
    "cleaners",
    "distributions",
    "get_plugin_manager",
    "get_registry",
    "plugin_commands",
    "register_plugin",
    "reset",
    "unregister_plugin",
]

Kind = Literal["blueprint", "architect", "provider"]
KINDS: tuple[Kind, ...] = ("blueprint", "architect", "provider")
_HOOKS: dict[Kind, str] = {
    "blueprint": "mephisto_register_blueprints",
    "architect": "mephisto_register_architects",
    "provider": "mephisto_register_providers",
}


@dataclass(frozen=True)
class TypeEntry:
    """One registered type: its kind, name, class and the distribution that provides it."""

    kind: Kind
    name: str
    cls: type[Any]
    distribution: str
    version: str


@dataclass
class DistributionInfo:
    """A plugin distribution as `mephisto plugins` shows it.

    `failed` is True when the distribution was left out (its module did not import or a hook raised);
    `problems` says why, and also names type conflicts and refused commands of a distribution that loaded.
    """

    name: str
    version: str
    modules: list[str] = field(default_factory=list)
    types: list[TypeEntry] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    failed: bool = False
    problems: list[str] = field(default_factory=list)


class Registry:
    """Every type the loaded plugins registered, keyed by kind and type name.

    A distribution whose register hook raises contributes no type at all (not the half it registered before
    the error). Two distributions claiming one type name make that name a conflict: `get` of it is an error
    naming both, so only the commands that need that type fail.
    """

    def __init__(self, loaded: LoadedPlugins) -> None:
        self.loaded = loaded
        self._types: dict[Kind, dict[str, TypeEntry]] = {kind: {} for kind in KINDS}
        self._conflicts: dict[Kind, dict[str, list[TypeEntry]]] = {kind: {} for kind in KINDS}
        staged: dict[object, list[TypeEntry]] = {}
        broken: set[object] = set()
        for kind in KINDS:
            for impl in getattr(loaded.pm.hook, _HOOKS[kind]).get_hookimpls():
                if impl.plugin in broken:
                    continue
                dist, version = loaded.distribution_of(impl.plugin)
                entries = staged.setdefault(impl.plugin, [])
                try:
                    loaded.call_impl(_HOOKS[kind], impl, register=_registrar(kind, dist, version, entries))
                except Exception as exc:
                    broken.add(impl.plugin)
                    loaded.fail(impl.plugin, f"its hook {_HOOKS[kind]} raised", exc)
        for plugin, entries in staged.items():
            if plugin not in broken:
                for entry in entries:
                    self._add(entry)

    def _add(self, entry: TypeEntry) -> None:
        known = self._types[entry.kind]
        if entry.name in self._conflicts[entry.kind]:
            self._conflicts[entry.kind][entry.name].append(entry)
            return
        existing = known.get(entry.name)
        if existing is None or existing.cls is entry.cls:
            known[entry.name] = entry
            return
        del known[entry.name]
        self._conflicts[entry.kind][entry.name] = [existing, entry]

    def types(self, kind: Kind) -> dict[str, TypeEntry]:
        """The usable types of `kind` by name (a type two distributions claim is left out: see `conflicts`)."""
        return dict(sorted(self._types[kind].items()))

    def conflicts(self, kind: Kind) -> dict[str, list[TypeEntry]]:
        """Type names of `kind` that more than one distribution registered, with every claimant."""
        return {name: list(entries) for name, entries in sorted(self._conflicts[kind].items())}

    def all_entries(self) -> list[TypeEntry]:
        """Every registration, conflicting ones included (what `mephisto plugins` shows)."""
        entries = [entry for kind in KINDS for entry in self._types[kind].values()]
        entries += [entry for kind in KINDS for claims in self._conflicts[kind].values() for entry in claims]
        return entries

    def get(self, kind: Kind, name: str) -> type[Any]:
        """The class registered for `name`, or a PluginError listing what is installed."""
        entry = self._types[kind].get(name)
        if entry is not None:
            return entry.cls
        claims = self._conflicts[kind].get(name)
        if claims:
            raise PluginError(_conflict_message(kind, name, claims))
        installed = ", ".join(self._types[kind]) or "none"
        message = f"unknown {kind} type {name!r}; installed {kind} types: {installed}."
        failed = [f.distribution for f in self.loaded.failures]
        if failed:
            message += f" These plugins failed to load and may provide it: {', '.join(sorted(set(failed)))}."
        # No pip command: the core cannot know which distribution (if any) provides a type it has never seen.
        message += " Install the plugin distribution that provides it (`mephisto plugins` lists what is installed)."
        message += first_party_hint(kind, name)
        raise PluginError(message)


def first_party_hint(kind: str, name: str) -> str:
    """Where a first-party plugin comes from: they are not on the package index yet, only in the repository's
    plugins/ folder. With a checkout beside this core (an editable install) the exact folder is named."""
    folder = Path(__file__).resolve().parents[2] / "plugins" / f"mephisto-{kind}-{name}"
    if (folder / "pyproject.toml").is_file():
        return f" It is a first-party plugin of this checkout: pip install {folder}"
    return (
        f" First-party plugins (named mephisto-{kind}-NAME) are not on the package index yet: they are installed"
        " from the plugins/ folder of a checkout of the Mephisto repository."
    )


def _registrar(kind: Kind, dist: str, version: str, entries: list[TypeEntry]) -> Callable[[type[Any]], None]:
    def register(cls: type[Any]) -> None:
        name = getattr(cls, "type_name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"{dist} registered {cls!r} as a {kind} without a `type_name`")
        entries.append(TypeEntry(kind, name, cls, dist, version))

    return register


def _conflict_message(kind: Kind, name: str, claims: list[TypeEntry]) -> str:
    who = " and ".join(f"{entry.distribution} ({entry.cls.__module__})" for entry in claims)
    return f"two plugins provide the {kind} type {name!r}: {who}. Uninstall one of them."


_lock = threading.RLock()
_loaded: LoadedPlugins | None = None
_registry: Registry | None = None
_extra_plugins: list[object] = []


def _get_loaded() -> LoadedPlugins:
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = load_plugins(hookspecs, _extra_plugins)
        return _loaded


def get_plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, with every selected entry-point plugin that loads (once)."""
    return _get_loaded().pm


def get_registry() -> Registry:
    """The registry of installed types, built on first use."""
    global _registry
    with _lock:
        loaded = _get_loaded()
        if _registry is None:
            _registry = Registry(loaded)
        return _registry


def register_plugin(plugin: object) -> None:
    """Register a plugin object that is not an installed distribution (tests, embedding applications).

    A plugin with a hook the core does not declare raises PluginError (a misspelled hook must not go unnoticed).
    """
    global _registry
    with _lock:
        if _loaded is not None:
            _loaded.register_extra(plugin)
        _extra_plugins.append(plugin)
        _registry = None


def unregister_plugin(plugin: object) -> None:
    """Undo `register_plugin`."""
    global _registry
    with _lock:
        if plugin in _extra_plugins:
            _extra_plugins.remove(plugin)
        if _loaded is not None:
            _loaded.unregister(plugin)
        _registry = None


def reset() -> None:
    """Forget loaded plugins so the next use reloads entry points (after a pip install, in tests)."""
    global _loaded, _registry
    with _lock:
        _loaded = None
        _registry = None


def plugin_commands(cli: click.Group, reserved: frozenset[str] = frozenset()) -> dict[str, str]:
    """Call every `mephisto_register_commands` hook and add what it adds to `cli`; returns {command: distribution}.

    Each hook adds to a scratch group first, so a command named like one in `reserved` (the core's) or like
    another plugin's is refused and reported instead of silently replacing or hiding it; a hook that raises
    costs its own distribution's commands only.
    """
    import click as _click

    global _registry
    loaded = _get_loaded()
    added: dict[str, str] = {}
    for impl in loaded.pm.hook.mephisto_register_commands.get_hookimpls():
        dist, _ = loaded.distribution_of(impl.plugin)
        scratch = _click.Group(name=cli.name)
        try:
            loaded.call_impl("mephisto_register_commands", impl, cli=scratch)
        except Exception as exc:
            loaded.fail(impl.plugin, "its hook mephisto_register_commands raised", exc)
            with _lock:
                _registry = None  # the distribution is left out: its types go too
            continue
        for name, command in scratch.commands.items():
            if name in reserved:
                loaded.problem(impl.plugin, f"its command {name!r} is refused: the core has a command of that name")
            elif name in added and added[name] != dist:
                loaded.problem(impl.plugin, f"its command {name!r} is refused: {added[name]} already adds it")
            else:
                cli.add_command(command, name)
                added[name] = dist
    return added


def cleaners() -> tuple[list[LeftoverCleaner], list[str]]:
    """Call every `mephisto_cleanup` hook; returns (the cleaners registered, one problem line per hook that raised).

    A hook that raises costs its own cleaners only (and is reported by `mephisto plugins`); its types stay.
    """
    loaded = _get_loaded()
    found: list[LeftoverCleaner] = []
    problems: list[str] = []
    for impl in loaded.pm.hook.mephisto_cleanup.get_hookimpls():
        dist, _ = loaded.distribution_of(impl.plugin)
        registered: list[LeftoverCleaner] = []
        try:
            loaded.call_impl("mephisto_cleanup", impl, register=registered.append)
        except Exception as exc:
            message = f"its hook mephisto_cleanup raised {type(exc).__name__}: {exc}"
            loaded.problem(impl.plugin, message)
            problems.append(f"{dist}: {message}")
            continue
        found.extend(registered)
    return found, problems


def distributions(cli: click.Group | None = None, reserved: frozenset[str] = frozenset()) -> list[DistributionInfo]:
    """Every plugin distribution with its version, modules, types, commands, and what went wrong with it."""
    # Commands first: a commands hook that raises leaves its distribution out, types included.
    commands = plugin_commands(cli, reserved) if cli is not None else {}
    registry = get_registry()
    loaded = registry.loaded
    infos: dict[str, DistributionInfo] = {}

    def info_for(dist: str, version: str | None = None) -> DistributionInfo:
        if dist not in infos:
            infos[dist] = DistributionInfo(dist, loaded.version_of(dist) if version is None else version)
        return infos[dist]

    for plugin, (dist, version) in loaded.entry_point_plugins().items():
        info_for(dist, version).modules.append(getattr(plugin, "__name__", repr(plugin)))
    for entry in registry.all_entries():
        info_for(entry.distribution, entry.version).types.append(entry)
    for name, dist in commands.items():
        info_for(dist).commands.append(name)
    for failure in loaded.failures:
        info = info_for(failure.distribution, failure.version)
        info.failed = True
        info.problems.append(failure.message)
    for dist, problems in loaded.problems.items():
        info_for(dist).problems.extend(problems)
    for kind in KINDS:
        for name, claims in registry.conflicts(kind).items():
            for entry in claims:
                infos[entry.distribution].problems.append(_conflict_message(kind, name, claims))
    return sorted(infos.values(), key=lambda i: normalized_name(i.name))
