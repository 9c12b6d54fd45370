"""Reward and bonus conversion (exact, whole cents), filters' shape, the task-file args."""

from __future__ import annotations

from decimal import Decimal

import pytest
from mephisto_provider_prolific.args import ProlificArgs, ProlificRequesterArgs
from mephisto_provider_prolific.models import Filter
from mephisto_provider_prolific.money import bonus_text, to_cents
from pydantic import ValidationError

from mephisto_core.errors import ProviderError
from mephisto_core.testing import unbounded_numeric_fields


@pytest.mark.parametrize(
    ("amount", "cents"), [("0.50", 50), ("1", 100), ("12.34", 1234), ("0", 0), ("0.1", 10), ("1.230", 123)]
)
def test_reward_becomes_exact_cents(amount: str, cents: int) -> None:
    assert to_cents(Decimal(amount)) == cents


def test_a_fraction_of_a_cent_is_refused_with_an_example() -> None:
    with pytest.raises(ProviderError, match=r"fraction of a cent.*0\.12"):
        to_cents(Decimal("0.125"))


def test_bonus_text_has_two_places_and_refuses_nothing() -> None:
    assert bonus_text(Decimal("0.5")) == "0.50"
    assert bonus_text(Decimal("3")) == "3.00"
    with pytest.raises(ProviderError, match="more than 0"):
        bonus_text(Decimal("0"))
    with pytest.raises(ProviderError, match="fraction of a cent"):
        bonus_text(Decimal("0.001"))


def test_filters_need_exactly_one_selection() -> None:
    assert Filter(filter_id="current-country-of-residence", selected_values=["1"]).selected_values == ["1"]
    assert Filter(filter_id="age", selected_range={"lower": 18, "upper": 30}).selected_range == {
        "lower": 18,
        "upper": 30,
    }
    with pytest.raises(ValidationError, match="exactly one of selected_values"):
        Filter(filter_id="age")
    with pytest.raises(ValidationError, match="only the keys lower and upper"):
        Filter(filter_id="age", selected_range={"min": 1})
    with pytest.raises(ValidationError):
        Filter.model_validate({"filter_id": "x", "selected_values": ["1"], "typo": 1})


def test_args_from_a_task_file_section() -> None:
    args = ProlificArgs.model_validate(
        {"workspace": "Lab", "eligibility_requirements": [{"filter_id": "age", "selected_range": {"lower": 18}}]}
    )
    assert args.eligibility_requirements[0].filter_id == "age"
    assert args.requester_name == "prolific"
    with pytest.raises(ValidationError):
        ProlificArgs.model_validate({"estimated_completion_minutes": 0})
    assert unbounded_numeric_fields(ProlificArgs) == []


def test_the_api_key_is_a_secret() -> None:
    args = ProlificRequesterArgs(api_key="abc")  # type: ignore[arg-type]
    assert "abc" not in repr(args)


def test_uses_only_the_public_api() -> None:
    from pathlib import Path

    from mephisto_core.testing.public_api import internal_core_imports

    assert internal_core_imports(Path(__file__).parents[1] / "src") == []
