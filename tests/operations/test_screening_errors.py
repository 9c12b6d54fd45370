"""A screening validator that raises holds the worker for a person to decide; it never counts as a pass."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pool_helpers import call, hello

from mephisto_core.data_model import Review, ReviewKind, Worker
from mephisto_core.data_model.qualifications import grant_qualification, granted_value
from mephisto_core.operations.run.replies import Assigned, Refusal, Refused, Submitted

pytestmark = pytest.mark.usefixtures("test_types")

CHECKS = """
def screen(inputs, outputs):
    if outputs["answer"] == "crash":
        raise KeyError("label")
    return outputs["answer"] != "bad"
"""


def work(database: Any, pool: Any, name: str, answer: str, key: str) -> Any:
    got = hello(database, pool, name)
    if not isinstance(got, Assigned):
        return got
    assert isinstance(call(database, pool.submit, got.agent_id, False, key, {"answer": answer}, []), Submitted)
    return got


def test_a_validator_that_raises_on_the_first_screening_unit_holds_the_worker_pending_check(
    database, make_pool, tmp_path, caplog
):
    (tmp_path / "checks.py").write_text(CHECKS)
    pool = make_pool(rows=6, screening={"units": 2, "validator": "checks:screen"})
    with caplog.at_level(logging.ERROR, logger="mephisto_core.operations.run.quality_checks"):
        work(database, pool, "alice", "crash", "alice-key-1")
    # The submission is kept, the exception is logged with its traceback, and no grade is made.
    (record,) = [r for r in caplog.records if "screening validator failed" in r.getMessage()]
    assert record.exc_info is not None and "KeyError" in caplog.text
    alice = Worker.get(Worker.name == "alice")
    assert granted_value(alice, "echo-screened") is None
    (review,) = Review.select()
    assert review.kind == ReviewKind.SCREEN_ERROR and "KeyError" in review.feedback
    # Held at once: a passing second unit must not outweigh the unit nobody could grade.
    held = hello(database, pool, "alice")
    assert isinstance(held, Refused) and held.reason == Refusal.PENDING_CHECK
    assert granted_value(alice, "echo-screened") is None
    # A person decides: once granted, the worker goes on.
    with database.write():
        grant_qualification(alice, "echo-screened", 1)
    assert isinstance(hello(database, pool, "alice"), Assigned)


def test_a_raise_on_a_later_screening_unit_is_not_outweighed_by_the_passes_before_it(database, make_pool, tmp_path):
    (tmp_path / "checks.py").write_text(CHECKS)
    pool = make_pool(rows=6, screening={"units": 3, "validator": "checks:screen"})
    work(database, pool, "bob", "good", "bob-key-1")
    work(database, pool, "bob", "crash", "bob-key-2")
    held = hello(database, pool, "bob")
    assert isinstance(held, Refused) and held.reason == Refusal.PENDING_CHECK
    assert granted_value(Worker.get(Worker.name == "bob"), "echo-screened") is None
    # Other workers are not affected by bob's held state.
    assert isinstance(work(database, pool, "carol", "good", "carol-key-1"), Assigned)
