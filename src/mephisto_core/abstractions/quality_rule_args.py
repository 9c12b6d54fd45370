"""`[[task.quality_rules]]`: rules that act on a worker by themselves as their gold answers and agreement come in.

The schema only; operations/run/quality_rules.py evaluates the rules, docs/workers.md explains them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: the most gold units or assignments a rule may wait for (as `[task.gold] every`)
MAX_AFTER = 1_000_000

Measure = Literal["gold", "agreement"]
RuleActionKind = Literal["grant", "revoke", "block_task", "block"]


class QualityRule(BaseModel):
    """One automatic rule: after `after` data points, a worker whose score is below `below` gets `action`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Unique within the task; recorded with every action the rule takes (letters, digits, _ . -).",
    )
    measure: Measure = Field(
        description="gold: share of the worker's gold units answered as expected ([task.gold] needed); "
        "agreement: share of answers equal to the other workers' on the same assignments (units_per_assignment >= 2)."
    )
    after: int = Field(
        ge=1,
        le=MAX_AFTER,
        description="Graded gold units (gold) or complete assignments the worker took part in (agreement) before "
        "the rule may fire.",
    )
    below: float = Field(
        gt=0, le=1, allow_inf_nan=False, description="The rule fires when the worker's share is below this (0-1]."
    )
    action: RuleActionKind = Field(
        description="grant or revoke `qualification`, block_task (this task only, `<task>-blocked`), or block "
        "(every task)."
    )
    qualification: str | None = Field(default=None, description="The qualification a grant or revoke changes.")
    value: int = Field(default=1, ge=-(2**31), le=2**31 - 1, description="The value a grant gives.")
    fields: list[str] = Field(
        default_factory=list,
        description="agreement: the output fields compared (default: every field both answers have).",
    )

    @model_validator(mode="after")
    def _qualification_fits_action(self) -> QualityRule:
        if self.action in ("grant", "revoke") and not self.qualification:
            raise ValueError(f"action {self.action!r} needs `qualification` (the name it changes)")
        if self.action in ("block_task", "block") and self.qualification is not None:
            raise ValueError(f"action {self.action!r} takes no `qualification` (it blocks the worker)")
        if self.fields and self.measure != "agreement":
            raise ValueError("`fields` applies to measure 'agreement' only")
        return self
