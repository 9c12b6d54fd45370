"""Build the provider outside a launch (cleanup, plugin commands): a requester's stored token, a run's own config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mephisto_core.errors import ProviderError

if TYPE_CHECKING:
    from mephisto_core.data_model import TaskRun
    from mephisto_provider_prolific.args import ProlificArgs
    from mephisto_provider_prolific.provider import ProlificProvider


def provider_for(requester: str, args: ProlificArgs, data_dir: Path) -> ProlificProvider:
    """The provider acting as `requester`, its token read from the user config (`mephisto register`)."""
    from mephisto_core.settings import load_settings_or_explain, requester_credentials
    from mephisto_provider_prolific.provider import ProlificProvider

    credentials = requester_credentials(load_settings_or_explain().config_file, requester)
    if not credentials.get("api_key"):
        raise ProviderError(
            f"no Prolific API token is stored for requester {requester!r}; "
            f"register one with `mephisto register prolific {requester} api_key=...`"
        )
    return ProlificProvider(args, requester, credentials, ProlificProvider.data_dir_under(data_dir))


def provider_for_run(run: TaskRun, data_dir: Path) -> ProlificProvider:
    """The provider as the run's launch built it: its `[provider]` args and its requester's token."""
    from mephisto_provider_prolific.args import ProlificArgs

    section = {k: v for k, v in dict(run.config.get("provider", {})).items() if k != "type"}
    return provider_for(str(run.requester.name), ProlificArgs(**section), data_dir)
