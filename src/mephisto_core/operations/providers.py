"""Building the provider instance that serves a task run, the same way for launch, review and scripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mephisto_core.abstractions import CrowdProvider
from mephisto_core.abstractions.provider import PROVIDERS_FOLDER
from mephisto_core.errors import ConfigError
from mephisto_core.plugins import get_registry
from mephisto_core.settings import Settings, requester_credentials


def provider_data_dir(settings: Settings, provider_type: str) -> Path:
    """Where a provider keeps its own files (ledgers, caches): the same as `CrowdProvider.data_dir_under`."""
    return settings.data_dir / PROVIDERS_FOLDER / provider_type


def build_provider(settings: Settings, provider_type: str, args: dict[str, Any] | Any) -> CrowdProvider:
    """The provider of `provider_type` with `args` (a dict from a stored run config, or a parsed Args model),
    its requester resolved and that requester's stored credentials loaded."""
    cls: type[CrowdProvider] = get_registry().get("provider", provider_type)
    parsed = cls.Args.model_validate(args) if isinstance(args, dict) else args
    requester = getattr(parsed, "requester_name", None) or cls.default_requester_name
    if not requester:
        raise ConfigError(
            f"provider {provider_type!r} needs a requester: register one with "
            f"`mephisto register {provider_type} NAME key=value ...` and set provider.requester_name",
            key="provider.requester_name",
        )
    credentials = requester_credentials(settings.config_file, requester)
    return cls(parsed, requester, credentials, provider_data_dir(settings, provider_type))
