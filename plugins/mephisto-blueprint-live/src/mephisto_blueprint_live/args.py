"""The `[blueprint]` section of a live task."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from mephisto_core.abstractions import BlueprintArgs

_WAIT = re.compile(r"^wait:(\d+(\.\d+)?)$")


class LiveBlueprintArgs(BlueprintArgs):
    """Schema of a live task's `[blueprint]` section."""

    world: str = Field(
        description="The task module (a .py file, relative to the task file) defining `async def run(assignment)`."
    )
    data_jsonl: str | None = Field(
        default=None,
        description="One JSON object per line: each line is one assignment's data (`assignment.task_data`).",
    )
    num_assignments: int = Field(
        default=1, ge=1, le=1_000_000, description="Assignments (conversations) to run when there is no data_jsonl."
    )
    waiting_room_seconds: float = Field(
        default=120.0,
        gt=0,
        le=86_400,
        allow_inf_nan=False,
        description="How long workers wait for their partners before the room is given up.",
    )
    when_room_does_not_fill: Literal["release", "run_with_fewer"] = Field(
        default="release",
        description="What happens when the waiting room is not full in time: `release` tells the workers waiting "
        "and gives their units to others (they are not paid; they may take another unit); `run_with_fewer` starts "
        "the episode with the workers there (`assignment.agents` is shorter) and withdraws the assignment's other "
        "units for good.",
    )
    on_partner_disconnect: str = Field(
        default="end",
        description="`end`: when a worker's page goes away the episode ends at once, the others are told and keep "
        "a completed (paid) unit, the one who left gets none; `wait:SECONDS`: the others are told and the episode "
        "waits up to SECONDS for the worker to come back (they get the conversation so far), then ends as `end`.",
    )
    task_description: str = Field(
        default="", description="Text shown above the chat (HTML is escaped); empty: the task's description."
    )

    @field_validator("on_partner_disconnect")
    @classmethod
    def _rule(cls, value: str) -> str:
        if value != "end" and not _WAIT.match(value):
            raise ValueError(f"must be 'end' or 'wait:SECONDS' (e.g. 'wait:30'), not {value!r}")
        return value

    def partner_wait_seconds(self) -> float:
        """Seconds the episode waits for a worker who left (0 for `end`)."""
        match = _WAIT.match(self.on_partner_disconnect)
        return float(match.group(1)) if match else 0.0
