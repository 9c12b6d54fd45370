"""Whether a task's architect can serve a provider that only sends workers to public https:// URLs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mephisto_core.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from mephisto_core.abstractions.architect import Architect
    from mephisto_core.abstractions.provider import CrowdProvider

#: Where researchers read how to host the router publicly.
PUBLIC_HOSTING_GUIDE = "plugins/mephisto-architect-remote/README.md"


def check_public_https(provider_cls: type[CrowdProvider], architect: Architect, task_file: Path | None = None) -> None:
    """Raise ConfigError (at `architect.type`) when the provider needs a public https:// worker URL and the
    architect does not serve one; `mephisto check` and launch call it before anything is deployed."""
    if not provider_cls.requires_public_https or architect.serves_public_https():
        return
    raise ConfigError(
        f"provider {provider_cls.type_name!r} sends workers only to a public https:// address, and architect "
        f"{architect.type_name!r} does not serve one with these arguments. Host the router publicly with "
        '[architect] type = "remote" (a server you run) or type = "ec2" (one made for you on AWS); see '
        f"{PUBLIC_HOSTING_GUIDE}.",
        file=task_file,
        key="architect.type",
    )
