"""Load the task module a live task names (`[blueprint] world`) and check it defines what a world needs."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

from mephisto_core.errors import ConfigError

KEY = "blueprint.world"


def load_world_module(path: Path) -> ModuleType:
    """Import `path` as a module; ConfigError (naming `blueprint.world` and the file) when it cannot serve a world."""
    if not path.is_file():
        raise ConfigError(f"the task module {path} does not exist", key=KEY)
    if path.suffix != ".py":
        raise ConfigError("the task module must be a .py file", file=path, key=KEY)
    name = "mephisto_live_world_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError("the task module cannot be imported", file=path, key=KEY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ConfigError(f"importing the task module failed: {type(exc).__name__}: {exc}", file=path, key=KEY) from exc
    run = getattr(module, "run", None)
    if run is None or not inspect.iscoroutinefunction(run):
        raise ConfigError("the task module must define `async def run(assignment)`", file=path, key=KEY)
    onboarding = getattr(module, "onboarding", None)
    if onboarding is not None and not inspect.iscoroutinefunction(onboarding):
        raise ConfigError("`onboarding` in the task module must be `async def onboarding(agent)`", file=path, key=KEY)
    return module
