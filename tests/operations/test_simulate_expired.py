"""A simulated worker told `expired` drops its stale answer and asks for the next unit without token, as the
page's "Take the next unit" button does."""

from __future__ import annotations

from typing import Any

from test_simulate_retries import TOKEN, Script, assigned, run_bot


def test_a_bot_whose_attempt_expired_drops_the_answer_and_asks_for_the_next_unit_without_token() -> None:
    def answer(script: Script, message: dict[str, Any]) -> dict[str, Any] | None:
        if message["type"] == "hello":
            if message["token"] == TOKEN:  # away too long: the attempt is over, no unit in its place
                return {"type": "expired", "status": "disconnected", "agent_id": 1, "unit_id": 1, "message": "gone"}
            later = len(script.of_type("hello")) > 1
            return assigned() | ({"agent_id": 2, "unit_id": 2, "token": "token-of-the-next-unit"} if later else {})
        if message["type"] == "upload":
            return {"type": "upload_ack", "upload_id": message["upload_id"]}
        if len(script.of_type("submit")) == 1:
            return None  # the socket breaks before the first submit is answered
        return {"type": "submitted", "submit_key": message["submit_key"]}

    script = Script(answer)
    report = run_bot(script)

    assert [hello["token"] for hello in script.of_type("hello")] == [None, TOKEN, None]
    submits = script.of_type("submit")
    assert len(submits) == 2 and submits[0]["submit_key"] != submits[1]["submit_key"]
    assert report.submitted == 1 and report.errors == 2  # the lost connection and the dropped answer
