"""An answer's integers are stored exactly, whatever their size, through the router in its own process and in the
operator's: the channel's fast JSON decoder turns an integer past 64 bits into a float, so such frames take the
exact decoder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import OperatorThread, ProtocolPage, write_static_task

from mephisto_core.data_model import Agent, Database

HUGE = 2**70  # past 64 bits: orjson would read 1.1805916207174113e+21
NEGATIVE = -(2**64) - 1
LONGEST_64 = 2**64 - 1  # still exact in orjson


@pytest.mark.parametrize("mode", ["subprocess", "in_process"])
def test_integers_past_64_bits_are_stored_as_the_page_sent_them(
    mode: str, tmp_path: Path, database: Database, start_operator: Callable[..., OperatorThread]
) -> None:
    task = write_static_task(tmp_path / "task", 1, {"type": "local", "port": 0, "mode": mode})
    operator = start_operator(task, database)
    page = ProtocolPage(operator.worker_url, "ivy", deadline=20)
    assigned = page.hello()
    assert assigned["type"] == "assigned", assigned
    outputs: dict[str, Any] = {"topic": HUGE, "answer": NEGATIVE}

    ack = page.submit(outputs)

    assert ack["type"] == "submitted", ack
    stored = Agent.get_by_id(assigned["agent_id"]).outputs
    assert stored == outputs
    assert all(type(value) is int for value in stored.values())


def test_a_64_bit_integer_still_takes_the_fast_way_and_stays_exact(
    tmp_path: Path, database: Database, start_operator: Callable[..., OperatorThread]
) -> None:
    task = write_static_task(tmp_path / "task", 1, {"type": "local", "port": 0, "mode": "subprocess"})
    operator = start_operator(task, database)
    page = ProtocolPage(operator.worker_url, "ivy", deadline=20)
    assigned = page.hello()
    ack = page.submit({"topic": LONGEST_64, "answer": -(2**63)})

    assert ack["type"] == "submitted", ack
    assert Agent.get_by_id(assigned["agent_id"]).outputs == {"topic": LONGEST_64, "answer": -(2**63)}
