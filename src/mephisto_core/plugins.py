"""The plugin manager and the registry of blueprint, architect and provider types.

Plugins are loaded from the `mephisto` entry-point group the first time they are needed. Listing commands
(`mephisto --help`) never loads them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from mephisto_core import hookspecs
from mephisto_core.errors import PluginError

if TYPE_CHECKING:
    import click

Kind = Literal["blueprint", "architect", "provider"]
KINDS: tuple[Kind, ...] = ("blueprint", "architect", "provider")
_HOOKS: dict[Kind, str] = {
    "blueprint": "mephisto_register_blueprints",
    "architect": "mephisto_register_architects",
    "provider": "mephisto_register_providers",
}
# First-party plugins a user may not have installed yet: named in "unknown type" errors with the pip command.
KNOWN_DISTRIBUTIONS: dict[tuple[Kind, str], str] = {
    ("blueprint", "static"): "mephisto-blueprint-static",
    ("blueprint", "form"): "mephisto-blueprint-form",
    ("blueprint", "live"): "mephisto-blueprint-live",
    ("architect", "local"): "mephisto-architect-local",
    ("architect", "ec2"): "mephisto-architect-ec2",
    ("provider", "mock"): "mephisto-provider-mock",
    ("provider", "inhouse"): "mephisto-provider-inhouse",
    ("provider", "mturk"): "mephisto-provider-mturk",
    ("provider", "mturk_sandbox"): "mephisto-provider-mturk",
    ("provider", "prolific"): "mephisto-provider-prolific",
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
    """A plugin distribution as `mephisto plugins` shows it."""

    name: str
    version: str
    modules: list[str] = field(default_factory=list)
    types: list[TypeEntry] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


class Registry:
    """Every type the installed plugins registered, keyed by kind and type name."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._types: dict[Kind, dict[str, TypeEntry]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            for impl in getattr(pm.hook, _HOOKS[kind]).get_hookimpls():
                dist, version = _distribution_of(pm, impl.plugin)
                impl.function(register=self._registrar(kind, dist, version))

    def _registrar(self, kind: Kind, dist: str, version: str) -> Callable[[type[Any]], None]:
        def register(cls: type[Any]) -> None:
            name = getattr(cls, "type_name", None)
            if not isinstance(name, str) or not name:
                raise PluginError(f"{dist} registered {cls!r} as a {kind} without a `type_name`")
            existing = self._types[kind].get(name)
            if existing is not None and existing.cls is not cls:
                raise PluginError(
                    f"two plugins provide the {kind} type {name!r}: {existing.distribution} "
                    f"({existing.cls.__module__}) and {dist} ({cls.__module__}). Uninstall one of them."
                )
            self._types[kind][name] = TypeEntry(kind, name, cls, dist, version)

        return register

    def types(self, kind: Kind) -> dict[str, TypeEntry]:
        return dict(sorted(self._types[kind].items()))

    def get(self, kind: Kind, name: str) -> type[Any]:
        """The class registered for `name`, or a PluginError listing what is installed."""
        entry = self._types[kind].get(name)
        if entry is not None:
            return entry.cls
        installed = ", ".join(self._types[kind]) or "none"
        message = f"unknown {kind} type {name!r}; installed {kind} types: {installed}."
        hint = KNOWN_DISTRIBUTIONS.get((kind, name))
        if hint:
            message += f" Install it with: pip install {hint}"
        raise PluginError(message)


def _distribution_of(pm: pluggy.PluginManager, plugin: object) -> tuple[str, str]:
    for registered, dist in pm.list_plugin_distinfo():
        if registered is plugin:
            return dist.metadata["name"], dist.version
    return getattr(plugin, "__name__", repr(plugin)), ""


_lock = threading.Lock()
_pm: pluggy.PluginManager | None = None
_registry: Registry | None = None
_extra_plugins: list[object] = []


def get_plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, with every entry-point plugin loaded (once)."""
    global _pm
    with _lock:
        if _pm is None:
            pm = pluggy.PluginManager("mephisto")
            pm.add_hookspecs(hookspecs)
            try:
                pm.load_setuptools_entrypoints("mephisto")
            except Exception as exc:
                raise PluginError(f"a plugin in the 'mephisto' entry-point group failed to load: {exc!r}") from exc
            for plugin in _extra_plugins:
                pm.register(plugin)
            pm.check_pending()
            _pm = pm
        return _pm


def get_registry() -> Registry:
    """The registry of installed types, built on first use."""
    global _registry
    pm = get_plugin_manager()
    with _lock:
        if _registry is None:
            _registry = Registry(pm)
        return _registry


def register_plugin(plugin: object) -> None:
    """Register a plugin object that is not an installed distribution (tests, embedding applications)."""
    global _registry
    with _lock:
        _extra_plugins.append(plugin)
        if _pm is not None:
            _pm.register(plugin)
            _pm.check_pending()
        _registry = None


def unregister_plugin(plugin: object) -> None:
    """Undo `register_plugin`."""
    global _registry
    with _lock:
        if plugin in _extra_plugins:
            _extra_plugins.remove(plugin)
        if _pm is not None and _pm.is_registered(plugin):
            _pm.unregister(plugin)
        _registry = None


def reset() -> None:
    """Forget loaded plugins so the next use reloads entry points (after a pip install, in tests)."""
    global _pm, _registry
    with _lock:
        _pm = None
        _registry = None


def plugin_commands(cli: click.Group) -> dict[str, str]:
    """Call every `mephisto_register_commands` hook on `cli`; returns {command name: distribution}."""
    pm = get_plugin_manager()
    added: dict[str, str] = {}
    for impl in pm.hook.mephisto_register_commands.get_hookimpls():
        before = set(cli.commands)
        impl.function(cli=cli)
        dist, _ = _distribution_of(pm, impl.plugin)
        for name in set(cli.commands) - before:
            added[name] = dist
    return added


def distributions(cli: click.Group | None = None) -> list[DistributionInfo]:
    """Every plugin distribution with its version, modules, registered types and commands."""
    pm = get_plugin_manager()
    registry = get_registry()
    infos: dict[str, DistributionInfo] = {}
    for plugin, dist in pm.list_plugin_distinfo():
        info = infos.setdefault(dist.metadata["name"], DistributionInfo(dist.metadata["name"], dist.version))
        info.modules.append(getattr(plugin, "__name__", repr(plugin)))
    for kind in KINDS:
        for entry in registry.types(kind).values():
            infos.setdefault(entry.distribution, DistributionInfo(entry.distribution, entry.version))
            infos[entry.distribution].types.append(entry)
    if cli is not None:
        for name, dist_name in plugin_commands(cli).items():
            infos.setdefault(dist_name, DistributionInfo(dist_name, "")).commands.append(name)
    return sorted(infos.values(), key=lambda i: i.name)
