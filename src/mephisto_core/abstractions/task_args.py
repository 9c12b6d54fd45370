"""The `[task]` section of a task file."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TaskArgs(BaseModel):
    """What every task has, whatever its blueprint, architect and provider."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="Unique task name. Launching the same name again resumes its unfinished units.",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    )
    title: str = Field(description="Short title workers see in listings.")
    description: str = Field(default="", description="What the task asks of workers.")
    reward: Decimal = Field(
        default=Decimal("0"),
        ge=0,
        description="Pay per unit, in the provider's currency (e.g. 0.50 = 50 cents).",
    )
    tags: list[str] = Field(default_factory=list, description="Keywords workers can search for.")
    project: str | None = Field(default=None, description="Optional project grouping several tasks.")
    units_per_assignment: int = Field(
        default=1, ge=1, description="How many different workers complete each data item."
    )
    max_num_concurrent_units: int = Field(default=0, ge=0, description="Most units offered at once (0 = no limit).")
    allowed_concurrent: int = Field(
        default=1, ge=0, description="Most units one worker may hold at once (0 = no limit)."
    )
    maximum_units_per_worker: int = Field(
        default=0,
        ge=0,
        description="Most units one worker may do in this task, over all runs (0 = no limit).",
    )
    assignment_duration_seconds: int = Field(
        default=1800, gt=0, description="Time a worker has for one unit before it is offered to someone else."
    )
    disconnect_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a worker whose page lost its connection keeps the unit before it is offered again.",
    )

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value: object) -> object:
        # Accept the original's comma-separated string too.
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value
