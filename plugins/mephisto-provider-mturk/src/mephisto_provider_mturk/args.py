"""The `[provider]` section of an MTurk task and the credentials `mephisto register mturk NAME` stores."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from mephisto_core.abstractions import ProviderArgs, RequesterArgs

#: Where live MTurk sends workers by default when the task file names no locales (what the original did).
DEFAULT_LIVE_LOCALES = ("US", "CA", "GB", "AU", "NZ")
#: A week: MTurk's own default auto-approval delay is 3 days; a week leaves time to review by hand.
DEFAULT_AUTO_APPROVAL_SECONDS = 7 * 24 * 3600
#: Thirty days (MTurk allows up to a year): HITs of a run that is still going must not vanish under it.
DEFAULT_HIT_LIFETIME_SECONDS = 30 * 24 * 3600


class MTurkArgs(ProviderArgs):
    """The `[provider]` section of a task with `type = "mturk"` or `type = "mturk_sandbox"`."""

    requester_name: str | None = Field(
        default=None,
        description="The registered MTurk requester to publish and pay as (mephisto register mturk NAME).",
    )
    auto_approval_delay_seconds: int = Field(
        default=DEFAULT_AUTO_APPROVAL_SECONDS,
        ge=0,
        le=30 * 24 * 3600,
        description="Seconds after a submission when MTurk approves (and pays) it by itself unless reviewed.",
    )
    hit_lifetime_seconds: int = Field(
        default=DEFAULT_HIT_LIFETIME_SECONDS,
        ge=60,
        le=365 * 24 * 3600,
        description="How long each HIT stays open to workers at MTurk (shutdown expires them earlier).",
    )
    frame_height: int = Field(
        default=0,
        ge=0,
        le=10000,
        description="Height in pixels of the frame MTurk shows the task in; 0 fills the worker's window.",
    )
    allowed_locales: list[str] | None = Field(
        default=None,
        description=(
            "Countries (ISO 3166 codes, or COUNTRY-SUBDIVISION like US-WA) whose workers may take the HITs. "
            "Unset: US, CA, GB, AU, NZ on live MTurk and no restriction in the sandbox; [] means no restriction."
        ),
    )
    sync_interval_seconds: float = Field(
        default=30.0,
        ge=5.0,
        le=3600.0,
        allow_inf_nan=False,
        description="Seconds between checks of held assignments at MTurk during a run (returned work is freed).",
    )
    notify_on_qualification: bool = Field(
        default=False, description="Whether MTurk e-mails a worker when mephisto grants them a qualification."
    )

    @field_validator("allowed_locales")
    @classmethod
    def _locales(cls, value: list[str] | None) -> list[str] | None:
        for code in value or []:
            country, _, subdivision = code.partition("-")
            if not (len(country) == 2 and country.isalpha() and country.isupper()):
                raise ValueError(f"{code!r} is not a locale: give an ISO 3166 country code such as 'US'")
            if subdivision and not (subdivision.isalnum() and subdivision.isupper() and len(subdivision) <= 3):
                raise ValueError(f"{code!r}: the subdivision after '-' must be an ISO 3166-2 code such as 'WA'")
        return value


class MTurkRequesterArgs(RequesterArgs):
    """An MTurk requester: an access key pair of an IAM user, or the name of an AWS profile holding one."""

    access_key_id: str | None = Field(
        default=None, description="AWS access key id of an IAM user allowed to use MTurk."
    )
    secret_access_key: SecretStr | None = Field(default=None, description="The secret of that access key.")
    profile: str | None = Field(
        default=None,
        description="Instead of the keys: the name of a profile in ~/.aws/credentials (nothing secret is stored).",
    )

    @model_validator(mode="after")
    def _one_way(self) -> MTurkRequesterArgs:
        keys = (self.access_key_id is not None, self.secret_access_key is not None)
        if keys == (True, True) and self.profile is None:
            return self
        if keys == (False, False) and self.profile:
            return self
        raise ValueError(
            "give either access_key_id=... and secret_access_key=... (an IAM user's key pair; set "
            "MEPHISTO_SECRET_SECRET_ACCESS_KEY to keep the secret off the command line), or profile=NAME "
            "(an AWS profile), not both and not one key alone"
        )
