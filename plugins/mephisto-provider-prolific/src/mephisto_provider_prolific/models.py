"""Pydantic models of the requests this provider sends to Prolific and of the answers it reads.

Only the fields the provider uses are declared; Prolific's answers carry many more, which are ignored
(`extra="ignore"`), while a request model forbids unknown fields so a typo never reaches the platform.
Field names follow Prolific's public API reference.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Answer(BaseModel):
    """Base of what Prolific answers: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")


class _Request(BaseModel):
    """Base of what the provider sends: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class User(_Answer):
    """`GET users/me/`: whose API token this is."""

    id: str
    email: str | None = None
    name: str | None = None


class Workspace(_Answer):
    """A workspace (`workspaces/`): studies, projects and the balance belong to one."""

    id: str
    title: str


class Project(_Answer):
    """A project inside a workspace (`workspaces/{id}/projects/`)."""

    id: str
    title: str


class WorkspaceBalance(_Answer):
    """`GET workspaces/{id}/balance/`: amounts in the currency's smallest unit (cents, pence)."""

    currency_code: str
    total_balance: int
    available_balance: int


class Filter(BaseModel):
    """One eligibility filter of a study: a choice filter (`selected_values`) or a range filter (`selected_range`).

    Filters are passed through from the task file as they are; only their shape is checked here.
    """

    model_config = ConfigDict(extra="forbid")

    filter_id: str = Field(
        min_length=1, description="Prolific's id of the filter, e.g. 'current-country-of-residence'."
    )
    selected_values: list[str] | None = Field(default=None, description="For a choice filter: the allowed choices.")
    selected_range: dict[str, Any] | None = Field(
        default=None, description="For a range filter: {'lower': ..., 'upper': ...}."
    )

    @model_validator(mode="after")
    def _one_selection(self) -> Filter:
        if (self.selected_values is None) == (self.selected_range is None):
            raise ValueError(
                f"filter {self.filter_id!r} needs exactly one of selected_values (a list) or selected_range "
                "({lower = ..., upper = ...})"
            )
        if self.selected_range is not None and not set(self.selected_range) <= {"lower", "upper"}:
            raise ValueError(f"filter {self.filter_id!r}: selected_range takes only the keys lower and upper")
        return self


class CompletionCode(BaseModel):
    """A completion code of a study and what Prolific does when a participant comes back with it."""

    model_config = ConfigDict(extra="ignore")

    code: str
    code_type: str = "COMPLETED"
    actions: list[dict[str, Any]] = Field(default_factory=lambda: [{"action": "MANUALLY_REVIEW"}])


class StudyCreate(_Request):
    """`POST studies/`: a draft study."""

    name: str
    internal_name: str
    description: str
    external_study_url: str
    prolific_id_option: Literal["url_parameters"] = "url_parameters"
    completion_codes: list[CompletionCode]
    estimated_completion_time: int = Field(ge=1)
    maximum_allowed_time: int | None = Field(default=None, ge=1)
    reward: int = Field(ge=0)
    total_available_places: int = Field(ge=0)
    filters: list[Filter] = Field(default_factory=list)
    project: str | None = None
    device_compatibility: list[str] = Field(default_factory=lambda: ["desktop", "tablet", "mobile"])


class Study(_Answer):
    """A study as Prolific describes it."""

    id: str
    name: str = ""
    internal_name: str | None = None
    external_study_url: str | None = None
    status: str = "UNPUBLISHED"
    total_available_places: int = 0
    places_taken: int = 0
    reward: int | None = None
    completion_codes: list[CompletionCode] = Field(default_factory=list)
    filters: list[dict[str, Any]] = Field(default_factory=list)
    project: str | None = None


class Submission(_Answer):
    """A participant's attempt at a study (`SESSION_ID` in the study URL is its id)."""

    id: str
    participant_id: str
    status: str
    study_id: str | None = None


class ParticipantGroup(_Answer):
    """A named list of participants (`participant-groups/`), used as an allow list or a block list."""

    id: str
    name: str
    workspace_id: str | None = None
    project_id: str | None = None


class BulkBonus(_Answer):
    """`POST submissions/bonus-payments/`: bonuses set up, not paid until `bulk-bonus-payments/{id}/pay/`."""

    id: str
    amount: int | None = None
    fees: int | None = None
    total_amount: int | None = None


#: Submission statuses after which the participant is gone and the unit they held is free again.
GONE_STATUSES = frozenset({"RETURNED", "TIMED-OUT"})
#: Submission statuses meaning the participant said they finished and the submission waits for the researcher.
AWAITING_REVIEW = "AWAITING REVIEW"
#: Study statuses in which the study can still take participants or be changed.
LIVE_STUDY_STATUSES = frozenset({"UNPUBLISHED", "SCHEDULED", "PUBLISHING", "ACTIVE", "PAUSED"})
#: Prolific's rejection categories (a rejection must name one).
REJECTION_CATEGORIES = (
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
)
#: Prolific refuses a rejection whose message to the participant is shorter than this.
MIN_REJECTION_MESSAGE = 100
