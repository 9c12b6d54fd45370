"""What the operator answers a worker's page: the typed results of registering and submitting."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mephisto_core.abstractions.provider import PageCompletion
from mephisto_core.data_model import AgentStatus
from mephisto_core.router.page_messages import RUN_OVER_TEXT


class Refusal(StrEnum):
    """Why a worker gets no unit; the value is the protocol's `reason` code."""

    NO_UNITS = "no_units"
    RUN_OVER = "run_over"
    NOT_QUALIFIED = "not_qualified"
    BLOCKED = "blocked"
    TOO_MANY_CONCURRENT = "too_many_concurrent"
    MAX_UNITS_REACHED = "max_units_reached"
    BAD_LINK = "bad_link"
    PENDING_CHECK = "pending_check"


REFUSAL_MESSAGES: dict[Refusal, str] = {
    Refusal.NO_UNITS: "There is no work left for you in this task right now. Thank you for your interest!",
    Refusal.RUN_OVER: RUN_OVER_TEXT,  # the router's own words once the operator left
    Refusal.NOT_QUALIFIED: "This task is open only to workers with certain qualifications, and you do not have them.",
    Refusal.BLOCKED: "You can no longer work on this task.",
    Refusal.TOO_MANY_CONCURRENT: "You already have as many units of this task open as allowed. Finish one first.",
    Refusal.MAX_UNITS_REACHED: "You have done the most units one worker may do in this task. Thank you!",
    Refusal.BAD_LINK: "This link is not a valid worker link for this task.",
    Refusal.PENDING_CHECK: "Your first answers are still being checked. Please come back a little later.",
}

#: Clearer words for the specific reasons behind a `not_qualified` refusal.
NOT_QUALIFIED_ONBOARDING = "You did not pass the qualification test of this task, so it is not open to you."
NOT_QUALIFIED_SCREENING = "Your first answers did not pass the check for this task, so it is not open to you any more."
NOT_QUALIFIED_GOLD = "Too many of your answers to check questions were wrong, so this task is not open to you any more."

#: Why a unit is no longer the page's: the text of a `gone` error and of an `expired` answer.
NOT_YOURS = "This unit is no longer yours."
ONBOARDING_GONE = "This page was away too long, so its qualification test was closed. Your answers were not stored."
UNKNOWN_TOKEN = "The unit this page showed is no longer part of this task. Your answer was not stored."
KEY_REUSED = "submit_key was already used for another submission; make a new one."
GONE_TEXT: dict[AgentStatus, str] = {
    AgentStatus.TIMED_OUT: (
        "The time for this unit ran out, so it was offered to someone else. Your answer was not stored."
    ),
    AgentStatus.DISCONNECTED: "This page was disconnected for too long, so the unit was offered to someone else.",
    AgentStatus.EXPIRED: "This unit was withdrawn by the requester.",
    AgentStatus.RETURNED: "You returned this unit.",
}


@dataclass(frozen=True)
class Assigned:
    """The worker holds this agent (a unit, or the onboarding test when `is_onboarding`)."""

    agent_id: int
    unit_id: int | None
    token: str
    init_data: dict[str, Any]
    is_onboarding: bool = False
    submitted: bool = False

    #: seconds until `assignment_duration_seconds` runs out for this unit; None for onboarding and submitted units
    seconds_left: float | None = None
    #: where the page goes once this unit's submission is stored (the provider's `WorkerIdentity.completion`);
    #: always None for an onboarding test
    completion: PageCompletion | None = None

    def message(self, request_id: int | None) -> dict[str, Any]:
        return {
            "type": "assigned",
            "id": request_id,
            "agent_id": self.agent_id,
            "unit_id": self.unit_id,
            "token": self.token,
            "is_onboarding": self.is_onboarding,
            "init_data": self.init_data,
            "submitted": self.submitted,
            "seconds_left": self.seconds_left,
            "completion": _completion_message(self.completion),
        }


@dataclass(frozen=True)
class Expired:
    """The attempt the page's token names is over (timed out, away too long, withdrawn, returned, or not of this
    run): its unit is no longer the page's. The page says so and offers the next unit, which it asks for
    explicitly with a `hello` without token, and draws with that unit's own data."""

    agent_id: int | None
    unit_id: int | None
    status: str
    text: str

    def message(self, request_id: int | None) -> dict[str, Any]:
        return {
            "type": "expired",
            "id": request_id,
            "agent_id": self.agent_id,
            "unit_id": self.unit_id,
            "status": self.status,
            "message": self.text,
        }


@dataclass(frozen=True)
class Preview:
    """A visitor who is not a worker yet sees the preview."""

    init_data: dict[str, Any]

    def message(self, request_id: int | None) -> dict[str, Any]:
        return {"type": "preview", "id": request_id, "init_data": self.init_data}


@dataclass(frozen=True)
class Refused:
    """No unit for this worker, and why."""

    reason: Refusal
    detail: str | None = None

    def message(self, request_id: int | None) -> dict[str, Any]:
        text = self.detail or REFUSAL_MESSAGES[self.reason]
        return {"type": "refused", "id": request_id, "reason": self.reason.value, "message": text}


@dataclass(frozen=True)
class Submitted:
    """The submission is committed (or was already, for a repeated `submit_key`)."""

    submit_key: str
    next: str = "done"
    replay: bool = False
    #: committed automatic grants to tell the provider about (`platform_grants.PlatformGrant`s), not sent
    platform_grants: tuple[Any, ...] = ()
    #: where the page goes now that its unit's submission is stored (set by ClientIOHandler, never for onboarding)
    completion: PageCompletion | None = None

    @classmethod
    def onboarding(cls, submit_key: str, passed: bool, replay: bool = False) -> Submitted:
        """The answer to an onboarding test's submission: `next` says whether it passed."""
        return cls(submit_key, "onboarding_passed" if passed else "onboarding_failed", replay=replay)

    def message(self, request_id: int | None) -> dict[str, Any]:
        return {
            "type": "submitted",
            "id": request_id,
            "submit_key": self.submit_key,
            "next": self.next,
            "completion": _completion_message(self.completion),
        }


@dataclass(frozen=True)
class Failure:
    """A request that cannot be honoured; `code` is the protocol's error code."""

    code: str
    text: str
    fields: dict[str, str] = field(default_factory=dict)

    def message(self, request_id: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "error", "id": request_id, "code": self.code, "message": self.text}
        if self.fields:
            out["fields"] = self.fields
        return out


def _completion_message(completion: PageCompletion | None) -> dict[str, Any] | None:
    return None if completion is None else completion.as_message()
