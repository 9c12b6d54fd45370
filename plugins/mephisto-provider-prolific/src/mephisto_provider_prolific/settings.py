"""Where the provider reaches Prolific: read once from the environment (pydantic-settings), for tests only.

A researcher never sets these: the defaults are Prolific's own addresses. The test suite points them at a local
fake (`mephisto_provider_prolific.testing.FakeProlific`) so that the real httpx client runs end to end.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_URL = "https://api.prolific.com/api/v1/"
DEFAULT_COMPLETION_URL = "https://app.prolific.com/submissions/complete"


class ProlificSettings(BaseSettings):
    """`MEPHISTO_PROLIFIC_API_URL` and `MEPHISTO_PROLIFIC_COMPLETION_URL`: for testing against a local fake."""

    model_config = SettingsConfigDict(env_prefix="MEPHISTO_PROLIFIC_", extra="ignore")

    api_url: str = Field(
        default=DEFAULT_API_URL,
        description="Base URL of Prolific's REST API (for testing only: a local fake's address).",
    )
    completion_url: str = Field(
        default=DEFAULT_COMPLETION_URL,
        description="Where a participant's page sends them with their completion code (for testing only).",
    )

    @property
    def is_overridden(self) -> bool:
        """True when the API is not Prolific's own (a test's fake): the public-HTTPS rule is then lifted."""
        return self.api_url.rstrip("/") != DEFAULT_API_URL.rstrip("/")


def load_prolific_settings() -> ProlificSettings:
    """The settings of this process (read from the environment each time: tests change it between cases)."""
    return ProlificSettings()
