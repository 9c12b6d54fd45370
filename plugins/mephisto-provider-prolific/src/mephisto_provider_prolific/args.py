"""The `[provider]` section of a task with `type = "prolific"`, and the credentials `mephisto register` stores."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr

from mephisto_core.abstractions import ProviderArgs, RequesterArgs
from mephisto_provider_prolific.models import REJECTION_CATEGORIES, Filter

RejectionCategory = Literal[
    "TOO_QUICKLY",
    "TOO_SLOWLY",
    "FAILED_INSTRUCTIONS",
    "INCOMP_LONGITUDINAL",
    "FAILED_CHECK",
    "LOW_EFFORT",
    "MALINGERING",
    "NO_CODE",
    "BAD_CODE",
    "NO_DATA",
    "UNSUPP_DEVICE",
    "OTHER",
]
assert set(RejectionCategory.__args__) == set(REJECTION_CATEGORIES)  # type: ignore[attr-defined]

Device = Literal["desktop", "tablet", "mobile"]
DEVICES: tuple[Device, ...] = ("desktop", "tablet", "mobile")
#: Prolific keeps a participant at most this long (its studies must be finished within a day).
MAX_MINUTES = 24 * 60 - 1


class ProlificArgs(ProviderArgs):
    """The `[provider]` section for Prolific: where the study goes and who may take it."""

    requester_name: str | None = Field(
        default="prolific",
        description="Registered requester holding the API token (`mephisto register prolific NAME api_key=...`).",
    )
    workspace: str = Field(
        default="My Workspace",
        min_length=1,
        description="Prolific workspace (by name) billed for the study; created when missing.",
    )
    project: str = Field(
        default="Mephisto", min_length=1, description="Project (by name) inside the workspace; created when missing."
    )
    study_name: str | None = Field(
        default=None, description="Public name of the study on Prolific (default: the task's title)."
    )
    estimated_completion_minutes: int = Field(
        default=5, ge=1, le=MAX_MINUTES, description="How long one unit takes, in minutes (shown to participants)."
    )
    maximum_allowed_minutes: int | None = Field(
        default=None,
        ge=1,
        le=MAX_MINUTES,
        description="When Prolific times a participant out (default: the task's assignment_duration_seconds).",
    )
    eligibility_requirements: list[Filter] = Field(
        default_factory=list,
        description=(
            "Prolific filters passed through as they are, e.g. "
            '{filter_id = "current-country-of-residence", selected_values = ["1"]}.'
        ),
    )
    device_compatibility: list[Device] = Field(
        default_factory=lambda: list(DEVICES),
        min_length=1,
        description="Devices participants may use.",
    )
    block_list_group: str = Field(
        default="Mephisto block list",
        min_length=1,
        description="Participant group (in the workspace) of blocked workers, excluded from every study.",
    )
    rejection_category: RejectionCategory = Field(
        default="OTHER", description="Prolific's reason category sent with every rejection."
    )
    service_fee_rate: Decimal = Field(
        default=Decimal("0.3333"),
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Prolific's service fee as a share of rewards and bonuses (33.33% for most accounts).",
    )
    fee_vat_rate: Decimal = Field(
        default=Decimal("0"),
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="VAT charged on the service fee (0.2 for UK accounts), counted in the fee.",
    )
    sync_interval_seconds: float = Field(
        default=15.0,
        ge=1,
        le=3600,
        allow_inf_nan=False,
        description="How often the run asks Prolific for returned and timed-out submissions, to free their units.",
    )


class ProlificRequesterArgs(RequesterArgs):
    """A Prolific API token (Prolific: Settings > Go to API token page > Create API token)."""

    api_key: SecretStr = Field(description="Prolific API token; checked with Prolific before it is stored.")


def task_block_group_name(args: ProlificArgs, task_name: str) -> str:
    """The participant group of workers blocked from one task (its studies exclude it with the global one)."""
    return f"{args.block_list_group}: {task_name}"
