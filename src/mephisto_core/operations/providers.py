"""Building the provider instance that serves a task run, the same way for launch, review and scripts.

Credentials are never kept with a run: a run records its requester (`TaskRun.requester`), and whoever acts for
the run later (review, scripts) builds the provider with that requester's credentials as the requester store
holds them at that moment, so a rotated key is the key used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from mephisto_core.abstractions import CrowdProvider
from mephisto_core.abstractions.provider import PROVIDERS_FOLDER
from mephisto_core.abstractions.secrets import is_secret_field
from mephisto_core.errors import ConfigError
from mephisto_core.plugins import get_registry
from mephisto_core.settings import Settings, requester_credentials

if TYPE_CHECKING:
    from mephisto_core.data_model import TaskRun


def provider_data_dir(settings: Settings, provider_type: str) -> Path:
    """Where a provider keeps its own files (ledgers, caches): the same as `CrowdProvider.data_dir_under`."""
    return settings.data_dir / PROVIDERS_FOLDER / provider_type


def build_provider(settings: Settings, provider_type: str, args: dict[str, Any] | Any) -> CrowdProvider:
    """The provider of `provider_type` with `args` (a dict, or a parsed Args model), its requester resolved
    and that requester's stored credentials loaded."""
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


def provider_for_run(settings: Settings, run: TaskRun) -> CrowdProvider:
    """The provider acting for `run` now: the run's own requester, with the credentials the requester store
    holds for it now, and the run's stored `[provider]` settings.

    A secret field of the provider's `Args` is never stored with a run (and one an older run still carries is
    ignored): it is taken from the requester's credentials under the same key, when they have it.
    """
    cls: type[CrowdProvider] = get_registry().get("provider", run.provider_type)
    requester: str = run.requester.name
    credentials = requester_credentials(settings.config_file, requester)
    config: dict[str, Any] = run.config or {}
    stored: dict[str, Any] = dict(config.get("provider") or {})
    args: dict[str, Any] = {}
    for name, field in cls.Args.model_fields.items():
        key = field.alias or name
        if is_secret_field(name, field):
            if key in credentials:
                args[key] = credentials[key]
        elif key in stored:
            args[key] = stored[key]
    if "requester_name" in cls.Args.model_fields:
        args["requester_name"] = requester
    try:
        parsed = cls.Args.model_validate(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(
            f"cannot act for run {run.id} through provider {run.provider_type!r} as requester {requester!r}: "
            f"{problems}. Secrets come from the requester store: `mephisto register {run.provider_type} "
            f"{requester} key=value ...`",
            key="provider",
        ) from None
    return cls(parsed, requester, credentials, provider_data_dir(settings, run.provider_type))
