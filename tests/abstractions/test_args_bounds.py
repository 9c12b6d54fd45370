"""Every number a task file can set is bounded: `check` must refuse what `launch` could not run.

A meta-test walks `[task]` and the `Args` (and `RequesterArgs`) of every registered blueprint, architect and
provider type, nested sections and list items included, and fails on a numeric field without a lower and an
upper bound, or a float/Decimal one that lets `inf`/`nan` through.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from mephisto_core.abstractions.task_args import TaskArgs
from mephisto_core.plugins import KINDS, get_registry
from mephisto_core.testing import unbounded_numeric_fields

FIRST_PARTY_TYPES = {"blueprint": {"static", "form"}, "architect": {"local"}, "provider": {"mock", "inhouse"}}


def _every_args_model() -> dict[str, type[BaseModel]]:
    registry = get_registry()
    models: dict[str, type[BaseModel]] = {"task": TaskArgs}
    for kind in KINDS:
        for name in registry.types(kind):
            cls = registry.get(kind, name)
            models[f"{kind}={name}"] = cls.Args
            requester_args = getattr(cls, "RequesterArgs", None)
            if requester_args is not None:
                models[f"{kind}={name} (requester)"] = requester_args
    return models


def test_the_first_party_types_are_all_walked() -> None:
    walked = _every_args_model()
    for kind, names in FIRST_PARTY_TYPES.items():
        for name in names:
            assert f"{kind}={name}" in walked, f"{kind} type {name!r} is not registered in this environment"


@pytest.mark.parametrize("section", list(_every_args_model()))
def test_every_numeric_argument_of_every_registered_type_is_bounded(section: str) -> None:
    problems = unbounded_numeric_fields(_every_args_model()[section])
    assert not problems, f"[{section}] has numbers `check` cannot bound: " + "; ".join(problems)


class _Loose(BaseModel):
    count: int = 0
    lower_only: int = Field(default=0, ge=0)
    ratio: float = Field(default=0.5, ge=0, le=1)  # bounded, but `nan` is neither <= 1 nor refused
    money: Decimal = Field(default=Decimal(0), ge=0, le=10)
    values: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list, max_length=3)
    nested: _Inner | None = None
    flag: bool = False
    name: str = ""


class _Inner(BaseModel):
    seconds: int = Field(default=1, gt=0)


class _Tight(BaseModel):
    count: int = Field(default=0, ge=0, le=10)
    ratio: float = Field(default=0.5, ge=0, le=1, allow_inf_nan=False)
    values: list[Annotated[int, Field(ge=-5, lt=5)]] | Annotated[int, Field(ge=0, le=1)] | None = None


_Loose.model_rebuild()


def test_the_walker_finds_each_kind_of_unbounded_number() -> None:
    problems = unbounded_numeric_fields(_Loose)
    assert problems == [
        "count: needs a lower bound (ge/gt), an upper bound (le/lt)",
        "lower_only: needs an upper bound (le/lt)",
        "ratio: needs allow_inf_nan=False",
        "money: needs allow_inf_nan=False",
        "values[]: needs an upper bound (le/lt)",
        "nested.seconds: needs an upper bound (le/lt)",
    ]
    assert unbounded_numeric_fields(_Tight) == []
