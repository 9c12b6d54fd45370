"""The `[task]` section of a task file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mephisto_core.abstractions.quality_rule_args import QualityRule

# Every number a task file gives has an upper bound as well as a lower one, so `mephisto check` refuses what a
# launch could not run (a deadline past the year 9999, an integer too big for the database). The bounds are
# far beyond any real task; tests/abstractions/test_args_bounds.py fails on a numeric field without them.
MAX_REWARD = Decimal("10000")
#: Largest budget or bonus budget a task file may give (in the task's currency).
MAX_BUDGET = Decimal("100000000")
MAX_UNITS = 1_000_000
MAX_PER_ASSIGNMENT = 1_000
#: 365 days: MTurk's own ceiling for an assignment's duration.
MAX_ASSIGNMENT_SECONDS = 365 * 24 * 3600
MAX_GRACE_SECONDS = 24 * 3600.0
#: Qualification values are stored in a 32-bit integer column (PostgreSQL `integer`).
QualificationValue = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
#: An expected answer a page can send back exactly (JavaScript numbers are exact up to 2**53).
ExactInteger = Annotated[int, Field(ge=-(2**53), le=2**53)]


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
        le=MAX_REWARD,
        allow_inf_nan=False,
        description="Pay per unit, in the provider's currency (e.g. 0.50 = 50 cents).",
    )
    currency: str = Field(
        default="USD",
        pattern=r"^[A-Z]{3}$",
        description="The task's currency (ISO 4217 code, e.g. USD, GBP): of reward, bonuses and max_budget.",
    )
    max_budget: Decimal | None = Field(
        default=None,
        ge=0,
        le=MAX_BUDGET,
        allow_inf_nan=False,
        description=(
            "Hard cap on what the task may commit, fees included, over all its runs (none by default). Launching, "
            "relaunching and bonuses that could pass it are refused; units offered or in progress count, not only "
            "what was paid (`mephisto payments` lists it)."
        ),
    )
    bonus_budget: Decimal = Field(
        default=Decimal("0"),
        ge=0,
        le=MAX_BUDGET,
        allow_inf_nan=False,
        description="Bonuses you plan to pay in total; `mephisto check` adds it (and its fee) to the worst-case cost.",
    )
    tags: list[str] = Field(default_factory=list, description="Keywords workers can search for.")
    project: str | None = Field(default=None, description="Optional project grouping several tasks.")
    units_per_assignment: int = Field(
        default=1, ge=1, le=MAX_PER_ASSIGNMENT, description="How many different workers complete each data item."
    )
    max_num_concurrent_units: int = Field(
        default=0, ge=0, le=MAX_UNITS, description="Most units offered at once (0 = no limit)."
    )
    allowed_concurrent: int = Field(
        default=1, ge=0, le=MAX_PER_ASSIGNMENT, description="Most units one worker may hold at once (0 = no limit)."
    )
    maximum_units_per_worker: int = Field(
        default=0,
        ge=0,
        le=MAX_UNITS,
        description="Most units one worker may do in this task, over all runs (0 = no limit).",
    )
    assignment_duration_seconds: int = Field(
        default=1800,
        gt=0,
        le=MAX_ASSIGNMENT_SECONDS,
        description="Time a worker has for one unit before it is offered to someone else (at most 365 days).",
    )
    disconnect_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        le=MAX_GRACE_SECONDS,
        allow_inf_nan=False,
        description="How long a worker whose page lost its connection keeps the unit before it is offered again.",
    )
    max_run_upload_mb: int = Field(
        default=10240,
        ge=1,
        le=1048576,
        description=(
            "Most megabytes of uploaded files one run keeps on disk (1 to 1048576, i.e. 1 TiB); a file that would "
            "go past it is refused. Files no submission lists are deleted when the run ends or is resumed."
        ),
    )

    qualifications: list[QualificationRequirement] = Field(
        default_factory=list, description="Qualifications a worker needs ([[task.qualifications]] entries)."
    )
    onboarding: OnboardingArgs | None = Field(
        default=None, description="How the onboarding test is graded ([task.onboarding])."
    )
    screening: ScreeningArgs | None = Field(default=None, description="Screen each worker's first units.")
    gold: GoldArgs | None = Field(default=None, description="Mix known-answer units into each worker's units.")
    quality_rules: list[QualityRule] = Field(
        default_factory=list,
        description="Rules that act on workers by their gold accuracy or agreement ([[task.quality_rules]]).",
    )
    procedures: ProceduresArgs | None = Field(
        default=None,
        description="Python functions task pages may call with `mephisto.call(name, args)` ([task.procedures]).",
    )

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value: object) -> object:
        # Accept the original's comma-separated string too.
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value


Comparator = Literal["exists", "not_exists", "==", "!=", ">", ">=", "<", "<=", "in", "not_in"]


class QualificationRequirement(BaseModel):
    """A `[[task.qualifications]]` entry: who may work on the task."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Qualification name (see `mephisto qualifications list`).")
    comparator: Comparator = Field(default="exists", description="How the worker's value is compared with `value`.")
    value: QualificationValue | list[QualificationValue] | None = Field(
        default=None, description="The value compared with (a list for in/not_in)."
    )

    @model_validator(mode="after")
    def _value_fits_comparator(self) -> QualificationRequirement:
        if self.comparator in ("exists", "not_exists"):
            if self.value is not None:
                raise ValueError(f"comparator {self.comparator!r} takes no value")
        elif self.comparator in ("in", "not_in"):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"comparator {self.comparator!r} needs a non-empty list of integers as value")
        elif not isinstance(self.value, int):
            raise ValueError(f"comparator {self.comparator!r} needs an integer value")
        return self


class OnboardingArgs(BaseModel):
    """`[task.onboarding]`: how the onboarding test (the blueprint's onboarding page) is graded."""

    model_config = ConfigDict(extra="forbid")

    validator: str | None = Field(
        default=None,
        description="module:function(outputs) -> bool deciding pass or fail; the module may sit in the task folder.",
    )
    answers: dict[str, str | ExactInteger | bool | list[str]] | None = Field(
        default=None, description="Expected answers: every listed field must equal its value to pass."
    )

    @model_validator(mode="after")
    def _one_rule(self) -> OnboardingArgs:
        if (self.validator is None) == (self.answers is None):
            raise ValueError("give exactly one of `validator` (module:function) or `answers` (expected answers)")
        return self


class ScreeningArgs(BaseModel):
    """`[task.screening]`: a worker's first units are checked before the worker gets more."""

    model_config = ConfigDict(extra="forbid")

    units: int = Field(
        default=1, ge=1, le=MAX_PER_ASSIGNMENT, description="How many of a worker's first units are checked."
    )
    validator: str = Field(
        description="module:function(inputs, outputs) -> bool deciding whether a screening unit passes."
    )


class GoldArgs(BaseModel):
    """`[task.gold]`: known-answer units mixed into a worker's units."""

    model_config = ConfigDict(extra="forbid")

    data_jsonl: Path = Field(
        description='Gold units, one JSON object per line: {"inputs": {...}, "answers": {field: expected}}.'
    )
    every: int = Field(
        default=10, ge=1, le=MAX_UNITS, description="A worker's first unit and then every N-th unit is a gold unit."
    )
    max_wrong: int = Field(
        default=0, ge=0, le=MAX_UNITS, description="A worker with more wrong gold answers than this is stopped."
    )


class ProceduresArgs(BaseModel):
    """`[task.procedures]`: remote procedures, Python functions the task's pages call (docs/procedures.md)."""

    model_config = ConfigDict(extra="forbid")

    module: Path = Field(
        description="The Python file (relative to the task file) whose @procedure functions or PROCEDURES dict "
        "pages may call."
    )
    timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=600,
        allow_inf_nan=False,
        description="How long one call may run before the page is told it timed out (at most 600).",
    )
    max_calls_per_minute: int = Field(
        default=60,
        ge=1,
        le=100_000,
        description="Most calls one worker may start in any 60 seconds; more are refused with `rate_limited`.",
    )


TaskArgs.model_rebuild()  # resolve the annotations of the sections defined after it
