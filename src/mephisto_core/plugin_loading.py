"""Loading the `mephisto` entry-point group one distribution at a time, so a broken plugin costs only itself.

pluggy's `load_setuptools_entrypoints` loads the whole group in one go: the first plugin that fails to import
stops it, and its error does not say which distribution it came from. Here every entry point is loaded and
registered in its own `try`; a failure becomes a `PluginFailure` (reported once on stderr) and the plugin is
left out. Which distributions load is chosen by `PluginSettings` (MEPHISTO_LOAD_PLUGINS,
MEPHISTO_DISABLE_PLUGINS); MEPHISTO_TRACE_PLUGINS=1 writes every hook call to stderr through pluggy's tracer.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from mephisto_core.errors import PluginError

GROUP = "mephisto"


def normalized_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): `Mephisto_Provider.Foo` is `mephisto-provider-foo`."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class PluginFailure:
    """A distribution left out: which one, its version, what failed (import or hook) and the exception."""

    distribution: str
    version: str
    stage: str  # e.g. "its module mephisto_x.plugin failed to import", "its hook mephisto_register_providers raised"
    error: str  # the exception as repr(), e.g. "ModuleNotFoundError(\"No module named 'numpyy'\")"

    @property
    def message(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"plugin {self.distribution}{version} is left out: {self.stage}: {self.error}"


def _warn(message: str) -> None:
    # Plain stderr, not logging: plugins load before (or without) the CLI's logging set-up, and a broken plugin
    # must be visible whatever the log level.
    print(f"mephisto: warning: {message}", file=sys.stderr, flush=True)


@dataclass
class LoadedPlugins:
    """The plugin manager, which distribution each plugin came from, and what failed to load."""

    pm: pluggy.PluginManager
    trace: bool = False
    failures: list[PluginFailure] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)  # distribution -> non-fatal problems
    _origin: dict[int, tuple[object, str, str]] = field(default_factory=dict)  # id(plugin) -> (plugin, dist, ver)
    _entry_point_ids: set[int] = field(default_factory=set)

    def distribution_of(self, plugin: object) -> tuple[str, str]:
        """(distribution name, version) of a registered plugin; a directly registered module is its own name."""
        known = self._origin.get(id(plugin))
        if known is not None:
            return known[1], known[2]
        return getattr(plugin, "__name__", repr(plugin)), ""

    def entry_point_plugins(self) -> dict[object, tuple[str, str]]:
        """The plugins loaded from entry points (still registered), with their distribution and version."""
        return {
            plugin: (dist, version)
            for key, (plugin, dist, version) in self._origin.items()
            if key in self._entry_point_ids and self.pm.is_registered(plugin)
        }

    def version_of(self, dist: str) -> str:
        """The version of a distribution seen while loading, or "" when unknown."""
        for _, name, version in self._origin.values():
            if name == dist:
                return version
        return next((f.version for f in self.failures if f.distribution == dist), "")

    def call_impl(self, hook_name: str, impl: pluggy.HookImpl, **kwargs: Any) -> Any:
        """Call one plugin's implementation of a hook (so a failure is that plugin's), traced when asked."""
        if self.trace:
            dist, _ = self.distribution_of(impl.plugin)
            self.pm.trace.root.get("hook")(f"{hook_name} of {dist}", kwargs)
        wanted = {name: kwargs[name] for name in impl.argnames}  # hookimpls may take fewer arguments
        return impl.function(**wanted)

    def fail(self, plugin: object, stage: str, exc: BaseException) -> None:
        """Leave `plugin`'s distribution out, and report why (once)."""
        dist, version = self.distribution_of(plugin)
        failure = PluginFailure(dist, version, stage, repr(exc))
        if self.pm.is_registered(plugin):
            self.pm.unregister(plugin)
        self._record(failure)
        if self.trace:
            traceback.print_exception(exc, file=sys.stderr)

    def problem(self, plugin: object, message: str) -> None:
        """Report a non-fatal problem of `plugin`'s distribution once (a refused command, ...)."""
        dist, version = self.distribution_of(plugin)
        known = self.problems.setdefault(dist, [])
        if message not in known:
            known.append(message)
            _warn(f"plugin {dist}{' ' + version if version else ''}: {message}")

    def _record(self, failure: PluginFailure) -> None:
        if failure not in self.failures:
            self.failures.append(failure)
            _warn(failure.message)

    def register_extra(self, plugin: object) -> None:
        """Register a plugin object that is not an installed distribution; a hook the core lacks is an error."""
        if self.pm.is_registered(plugin):
            return
        self.pm.register(plugin)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(plugin)
            raise PluginError(f"plugin {getattr(plugin, '__name__', plugin)!r}: {exc}") from exc

    def unregister(self, plugin: object) -> None:
        if self.pm.is_registered(plugin):
            self.pm.unregister(plugin)

    def load_entry_point(self, ep: EntryPoint) -> None:
        """Import one entry point and register it; any failure leaves its distribution out."""
        dist = ep.dist.name if ep.dist is not None else ep.value
        version = ep.dist.version if ep.dist is not None else ""
        try:
            plugin = ep.load()
        except BaseException as exc:  # a plugin's import may even call sys.exit(): it must not end the CLI
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._record(PluginFailure(dist, version, f"its module {ep.value} failed to import", repr(exc)))
            return
        self._origin[id(plugin)] = (plugin, dist, version)
        self._entry_point_ids.add(id(plugin))
        try:
            self.pm.register(plugin, name=f"{dist}:{ep.name}")
            # check_pending only finds this plugin's unknown hooks: the ones before it all passed.
            self.pm.check_pending()
        except Exception as exc:
            self.fail(plugin, "its hooks do not match the core's", exc)


def selected(dist_names: Iterable[str], only: set[str] | None, disabled: set[str]) -> set[str]:
    """Which of `dist_names` to load: all (or `only` those, when given) minus `disabled`; names compared as pip does."""
    chosen = set()
    for name in dist_names:
        key = normalized_name(name)
        if (only is None or key in only) and key not in disabled:
            chosen.add(name)
    return chosen


def load_plugins(hookspec_module: ModuleType, extra_plugins: Iterable[object]) -> LoadedPlugins:
    """Build the plugin manager: the selected entry-point distributions, each on its own, then `extra_plugins`."""
    from mephisto_core.settings import load_plugin_settings

    settings = load_plugin_settings()
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspec_module)
    loaded = LoadedPlugins(pm, trace=settings.trace_plugins)
    if settings.trace_plugins:
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    points = list(entry_points(group=GROUP))
    names = {ep.dist.name for ep in points if ep.dist is not None}
    only, disabled = settings.only_distributions(), settings.disabled_distributions()
    installed = {normalized_name(name) for name in names}
    for wanted in sorted(((only or set()) | disabled) - installed):
        _warn(f"MEPHISTO_LOAD_PLUGINS or MEPHISTO_DISABLE_PLUGINS names {wanted!r}: no installed plugin has that name")
    chosen = selected(names, only, disabled)
    for ep in points:
        if ep.dist is None or ep.dist.name in chosen:
            loaded.load_entry_point(ep)
    for plugin in extra_plugins:
        loaded.register_extra(plugin)
    return loaded
