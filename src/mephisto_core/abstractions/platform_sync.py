"""What a provider answers when the core pushes qualifications and blocks to its platform.

Qualifications and blocks are always enforced by mephisto's own eligibility check, on every provider. A provider
whose platform has the concept is told as well (`CrowdProvider.grant_qualification`, `block_worker`, ...), so
the platform keeps workers away before they ever open the task. A provider that cannot do one raises
`PlatformUnsupported` saying why: the action still happens locally, and its result says that the platform was not
told. Any other exception is a failure: a researcher's action is refused and nothing is recorded; an automatic
grant of a run (onboarding, screening, gold) holds locally and records a "failed" outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mephisto_core.errors import ProviderError


class PlatformUnsupported(ProviderError, NotImplementedError):
    """The provider's platform has no way to do this action (no qualifications, no per-task blocks, no platform).

    Raise it with one sentence saying what the platform lacks; the core then enforces the action locally only and
    shows that sentence in the action's result. It is a NotImplementedError too, so a provider that simply did
    not implement a method is treated the same way.
    """


PlatformStatus = Literal["done", "local only", "no run yet", "failed"]


@dataclass(frozen=True)
class PlatformOutcome:
    """What one provider (as one requester) did with a qualification or block action.

    `status` is "done" (the platform was told), "local only" (the provider cannot do it: `detail` says why) or
    "no run yet" (no run of the worker's provider exists to act through, so the platform was not told), or
    "failed" (an automatic grant of a run the platform refused or did not answer: `detail` says how).
    """

    provider: str
    requester: str
    action: str
    status: PlatformStatus
    detail: str = ""

    def sentence(self) -> str:
        """One line for the CLI, the review app and the review record."""
        who = f"{self.provider} (requester {self.requester})" if self.requester else self.provider
        if self.status == "done":
            return f"{self.action}: done at {who}."
        if self.status == "failed":
            return f"{self.action}: failed at {who} ({self.detail}); enforced by mephisto's own check only."
        if self.status == "no run yet":
            return f"{self.action}: the provider was not told ({self.detail}); enforced by mephisto's own check only."
        return f"{self.action}: not at {who} ({self.detail}); enforced by mephisto's own check only."

    def as_dict(self) -> dict[str, str]:
        """The outcome as JSON-ready fields (`--json` output, the review app's answers)."""
        return {
            "provider": self.provider,
            "requester": self.requester,
            "action": self.action,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RequirementMapping:
    """How a task's `[[task.qualifications]]` requirements are enforced at the platform.

    `platform` holds, per requirement name, the provider's description of what the platform enforces (an MTurk
    qualification requirement, a Prolific participant group); `local_only` the names of requirements the platform
    cannot express, each with why. Every requirement is enforced locally in both cases.
    """

    platform: dict[str, str] = field(default_factory=dict)
    local_only: dict[str, str] = field(default_factory=dict)


def requirement_lines(mapping: RequirementMapping) -> list[str]:
    """One line per requirement: enforced at the platform too, or by mephisto's own check only (check, launch)."""
    lines = [f"{name}: at the platform ({how}) and by mephisto" for name, how in mapping.platform.items()]
    lines += [f"{name}: by mephisto's own check only ({why})" for name, why in mapping.local_only.items()]
    return lines
