"""Process settings (pydantic-settings, env prefix MEPHISTO_) and the user config file with requester credentials."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mephisto_core.errors import ConfigError
from mephisto_core.event_loop import EventLoopChoice
from mephisto_core.file_modes import make_private_dir, open_private_file
from mephisto_core.text_files import loads_toml, read_utf8


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mephisto"


def _default_config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mephisto" / "config.toml"


class Settings(BaseSettings):
    """Everything the process reads from its environment; nothing deeper in the code reads os.environ."""

    model_config = SettingsConfigDict(env_prefix="MEPHISTO_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir, description="SQLite database and uploaded files.")
    database_url: str | None = Field(
        default=None,
        description="Overrides the SQLite file, e.g. postgresql://user:pw@127.0.0.1:5432/mephisto.",
    )
    config_file: Path = Field(
        default_factory=_default_config_file, description="User config TOML with requester credentials."
    )
    log_level: str = Field(default="INFO", description="Python logging level name.")
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Serve the running operator's OpenMetrics on this port (0: any free port); off when unset. "
        "Needs the `metrics` extra (docs/monitoring.md).",
    )
    metrics_host: str = Field(default="127.0.0.1", description="The address the metrics endpoint binds to.")
    event_loop: EventLoopChoice = Field(
        default="auto",
        description="The event loop of `mephisto launch` and the router: `auto` (uvloop when installed, as it is on "
        "Linux and macOS), `uvloop` (refuse to start without it) or `asyncio` (the standard library's).",
    )
    log_sql: bool = Field(
        default=False,
        description="Log every SQL statement (the `peewee` logger) at DEBUG; its parameters are never logged, "
        "as they hold agent tokens and submissions.",
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"{value!r} is not a logging level; use DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "mephisto.db"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"


def load_settings_or_explain() -> Settings:
    """Settings from the environment; a bad MEPHISTO_* value is a ConfigError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MEPHISTO_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"bad setting in the environment: {problems}") from None


def read_user_config(path: Path) -> dict[str, Any]:
    """Read the user config TOML; a missing file is an empty config."""
    if not path.exists():
        return {}
    # read_utf8/loads_toml: bytes that are not UTF-8 or nesting too deep are located errors, not tracebacks.
    return loads_toml(read_utf8(path), path, what="the user config is not valid TOML")


def write_user_config(path: Path, config: dict[str, Any]) -> None:
    """Write the user config atomically with mode 0600: it holds credentials."""
    make_private_dir(path.parent)
    tmp = path.with_suffix(".tmp")
    # 0600 before the first byte is written, also when an interrupted earlier write left a more open .tmp file.
    with os.fdopen(open_private_file(tmp), "wb") as fh:
        tomli_w.dump(config, fh)
    os.replace(tmp, path)


def store_requester_credentials(path: Path, name: str, provider_type: str, credentials: dict[str, Any]) -> None:
    """Save one requester's credentials under `[requesters.NAME]` in the user config."""
    config = read_user_config(path)
    requesters = config.setdefault("requesters", {})
    requesters[name] = {"provider": provider_type, **credentials}
    write_user_config(path, config)


#: `mephisto register` reads a secret credential KEY it is not given on the command line from this + KEY upper-cased.
SECRET_ENV_PREFIX = "MEPHISTO_SECRET_"


def secret_env_name(key: str) -> str:
    """The environment variable `mephisto register` reads the credential `key` from: MEPHISTO_SECRET_API_KEY."""
    return SECRET_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


def secret_from_environment(key: str) -> str | None:
    """The value of credential `key` from its MEPHISTO_SECRET_* variable; None when it is not set."""
    return os.environ.get(secret_env_name(key))


def requester_credentials(path: Path, name: str) -> dict[str, Any]:
    """The stored credentials of one requester (without the `provider` key); empty when none are stored."""
    entry = dict(read_user_config(path).get("requesters", {}).get(name, {}))
    entry.pop("provider", None)
    return entry


class PluginSettings(BaseSettings):
    """Which plugin distributions load, read on its own so that choosing plugins never depends on the rest.

    Names are distribution names (`mephisto plugins` lists them), comma-separated, compared as pip does.
    """

    model_config = SettingsConfigDict(env_prefix="MEPHISTO_", extra="ignore")

    load_plugins: str | None = Field(
        default=None,
        description="Load only these plugin distributions (comma-separated); empty: load none.",
    )
    disable_plugins: str = Field(default="", description="Load every plugin distribution but these (comma-separated).")
    trace_plugins: bool = Field(default=False, description="Write every plugin hook call to stderr.")

    def only_distributions(self) -> set[str] | None:
        """The normalised names MEPHISTO_LOAD_PLUGINS allows, or None when it is not set (load all)."""
        return None if self.load_plugins is None else _distribution_names(self.load_plugins)

    def disabled_distributions(self) -> set[str]:
        return _distribution_names(self.disable_plugins)


def _distribution_names(value: str) -> set[str]:
    return {re.sub(r"[-_.]+", "-", part.strip()).lower() for part in value.split(",") if part.strip()}


def load_plugin_settings() -> PluginSettings:
    """The plugin settings from the environment; a bad value is a ConfigError naming the variable."""
    try:
        return PluginSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MEPHISTO_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"bad plugin setting in the environment: {problems}") from None
