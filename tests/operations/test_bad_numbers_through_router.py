"""Numbers a worker page sends: non-finite or over-long ones are refused by the real router and never stored;
integers beyond what JavaScript holds exactly are stored digit for digit."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from socket_page import run_with_operator
from websockets.asyncio.client import ClientConnection, connect

from mephisto_core.data_model import Agent
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")

BIG = int("7" * 4000)  # 4000 digits: below Python's 4300-digit conversion limit, far beyond a JS double

# The raw text of each refused value (json.dumps cannot even write most of them) and words of the refusal.
REFUSED = [
    ("1e999", "overflows to infinity"),
    ("-1e999", "overflows to infinity"),
    ("NaN", "NaN is not valid JSON"),
    ("Infinity", "Infinity is not valid JSON"),
    ("-Infinity", "Infinity is not valid JSON"),
    ("9" * 5000, "5000 digits; at most 4300"),
]


async def _answer(ws: ClientConnection, request_id: int) -> dict[str, Any]:
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if reply.get("id") == request_id:
            return reply  # type: ignore[no-any-return]


def _submit_text(request_id: int, key: str, raw_number: str) -> str:
    # Built by hand: the point is the exact characters the router receives.
    return (
        f'{{"type":"submit","id":{request_id},"submit_key":"{key}",'
        f'"outputs":{{"answer":"x","count":{raw_number}}},"uploads":[]}}'
    )


def test_non_finite_and_overlong_numbers_are_refused_and_big_integers_stored_exactly(
    database: Any, mephisto_settings: Any, task_file: Any
) -> None:
    config = load_task_config(task_file(rows=2))
    answers: list[dict[str, Any]] = []

    async def scenario(url: str) -> None:
        async with connect("ws" + url[4:] + "ws", max_size=None) as ws:
            await ws.send(json.dumps({"type": "hello", "id": 1, "params": {"worker_id": "wanda"}, "token": None}))
            assigned = await _answer(ws, 1)
            assert assigned["type"] == "assigned"
            for number, (raw, _) in enumerate(REFUSED, start=2):
                await ws.send(_submit_text(number, f"bad-key-{number:04d}", raw))
                answers.append(await _answer(ws, number))
            # The page can still submit on the same socket, with a number JavaScript cannot hold exactly.
            await ws.send(_submit_text(50, "good-key-0050", str(BIG)))
            answers.append(await _answer(ws, 50))

    run_with_operator(database, mephisto_settings, config, scenario)
    *refusals, accepted = answers
    for (raw, words), answer in zip(REFUSED, refusals, strict=True):
        assert answer["type"] == "error" and answer["code"] == "bad_message", raw[:20]
        assert words in answer["message"], answer["message"]
    assert accepted["type"] == "submitted"
    stored = [agent.outputs for agent in Agent.select() if agent.outputs is not None]
    submit_keys = [agent.submit_key for agent in Agent.select() if agent.submit_key is not None]
    assert stored == [{"answer": "x", "count": BIG}]
    assert submit_keys == ["good-key-0050"]
