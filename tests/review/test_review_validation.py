"""Bad input gets a 4xx with a message naming what was wrong, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from review_helpers import ledger, reviews, task_units

from mephisto_core.data_model import Unit
from mephisto_core.settings import Settings

U = "{unit}"  # replaced by a real unit id of the static task
W = "{worker}"  # replaced by that unit's worker id

BAD_POSTS: list[tuple[str, Any, int, str]] = [
    ("/api/units/abc/approve", {}, 400, "unit id must be a positive integer id, got 'abc'"),
    ("/api/units/0/approve", {}, 400, "unit id must be a positive integer id, got 0"),
    ("/api/units/-3/approve", {}, 400, "unit id must be a positive integer id"),
    ("/api/units/99999999999999999999/approve", {}, 400, "unit id must be a positive integer id"),
    ("/api/units/999/approve", {}, 404, "unit 999 does not exist"),
    (f"/api/units/{U}/frobnicate", {}, 404, "no unit action 'frobnicate'"),
    (f"/api/units/{U}/approve", {"feedbak": "typo"}, 400, "unknown field 'feedbak' in the approve request"),
    (f"/api/units/{U}/approve", {"feedback": 12}, 400, "feedback must be text, got int"),
    (f"/api/units/{U}/approve", {"feedback": "x" * 2001}, 400, "feedback is 2001 characters long; at most 2000"),
    (f"/api/units/{U}/approve", {"feedback": "bell\x07"}, 400, "feedback contains control characters"),
    (f"/api/units/{U}/reject", {}, 400, "feedback is required: tell the worker why"),
    (f"/api/units/{U}/reject", {"feedback": "   "}, 400, "feedback is required"),
    (f"/api/units/{U}/bonus", {"reason": "x"}, 400, "amount is required"),
    (f"/api/units/{U}/bonus", {"amount": "abc", "reason": "x"}, 400, "amount must be a number such as 0.50"),
    (f"/api/units/{U}/bonus", {"amount": True, "reason": "x"}, 400, "amount must be a number such as 0.50"),
    (f"/api/units/{U}/bonus", {"amount": [1], "reason": "x"}, 400, "amount must be a number such as 0.50"),
    (f"/api/units/{U}/bonus", {"amount": "NaN", "reason": "x"}, 400, "amount must be a finite number"),
    (f"/api/units/{U}/bonus", {"amount": "-1", "reason": "x"}, 400, "amount must be more than 0, got -1"),
    (f"/api/units/{U}/bonus", {"amount": 0, "reason": "x"}, 400, "amount must be more than 0"),
    (f"/api/units/{U}/bonus", {"amount": "0.555", "reason": "x"}, 400, "amount 0.555 has more than two decimal"),
    (f"/api/units/{U}/bonus", {"amount": "1e12", "reason": "x"}, 400, "is larger than 9999999999.99"),
    (f"/api/units/{U}/bonus", {"amount": "0.50"}, 400, "reason is required: tell the worker what the bonus is for"),
    (f"/api/workers/{W}/block", {}, 400, "reason is required: say why the worker is blocked"),
    (f"/api/workers/{W}/block", {"reason": "x", "unit_ids": [1]}, 400, "unknown field 'unit_ids'"),
    ("/api/workers/999/block", {"reason": "x"}, 404, "worker 999 does not exist"),
    ("/api/workers/bob/block", {"reason": "x"}, 400, "worker id must be a positive integer id, got 'bob'"),
    (f"/api/workers/{W}/grant", {}, 400, "qualification is required"),
    (f"/api/workers/{W}/grant", {"qualification": "q", "value": "x"}, 400, "value must be a whole number"),
    (f"/api/workers/{W}/grant", {"qualification": "q", "value": True}, 400, "value must be a whole number"),
    (f"/api/workers/{W}/grant", {"qualification": "q", "value": 2**40}, 400, "out of range"),
    (f"/api/workers/{W}/grant", {"qualification": "q" * 201}, 400, "at most 200"),
    (f"/api/workers/{W}/grant", {"qualification": "mephisto-blocked"}, 400, "use the block and unblock actions"),
    (f"/api/workers/{W}/grant", {"qualification": "q", "unit_id": "one"}, 400, "unit_id must be a positive integer"),
    (f"/api/workers/{W}/grant", {"qualification": "q", "unit_id": 999}, 404, "unit 999 does not exist"),
    (f"/api/workers/{W}/revoke", {"qualification": "q", "value": 1}, 400, "unknown field 'value'"),
    (f"/api/workers/{W}/promote", {}, 404, "no worker action 'promote'"),
    ("/api/units/bulk", {}, 400, "action is required: one of approve, reject"),
    ("/api/units/bulk", {"action": "delete", "unit_ids": [1]}, 400, "unknown action 'delete'"),
    ("/api/units/bulk", {"action": "approve"}, 400, "unit_ids must be a non-empty list of ids"),
    ("/api/units/bulk", {"action": "approve", "unit_ids": []}, 400, "unit_ids must be a non-empty list"),
    ("/api/units/bulk", {"action": "approve", "unit_ids": "1,2"}, 400, "unit_ids must be a non-empty list"),
    ("/api/units/bulk", {"action": "approve", "unit_ids": [1, "x"]}, 400, "unit_ids[1] must be a positive integer"),
    ("/api/units/bulk", {"action": "approve", "unit_ids": list(range(1, 502))}, 400, "has 501 ids; at most 500"),
    ("/api/units/bulk", {"action": "reject", "unit_ids": [1]}, 400, "feedback is required"),
    ("/api/units/bulk", {"action": "block", "unit_ids": [1], "unit_id": 1, "reason": "x"}, 400, "unknown field"),
    ("/api/units/bulk", {"action": "bonus", "unit_ids": [1], "amount": "-2", "reason": "x"}, 400, "more than 0"),
    ("/api/units/1", {}, 405, "POST is not allowed on /api/units/1; use GET"),
    ("/api/tasks", {}, 405, "POST is not allowed"),
]


@pytest.mark.parametrize(("path", "body", "status", "message"), BAD_POSTS)
def test_bad_action_requests_are_refused_with_a_clear_message(
    client, mephisto_settings: Settings, path: str, body: Any, status: int, message: str
) -> None:
    unit = task_units("study")[0]
    reply = client.post(path.replace(U, str(unit.id)).replace(W, str(unit.worker_id)), body)
    assert reply.status == status, reply.body
    assert message in reply.error
    assert reviews() == []
    assert ledger(mephisto_settings) == []
    assert {u.status for u in Unit.select()} == {"completed"}


BAD_GETS: list[tuple[str, int, str]] = [
    ("/api/units?limit=0", 400, "limit must be a whole number from 1 to 500, got '0'"),
    ("/api/units?limit=501", 400, "limit must be a whole number from 1 to 500"),
    ("/api/units?offset=-1", 400, "offset must be a whole number of units to skip, got '-1'"),
    ("/api/units?status=done", 400, "status 'done' is not a unit status; valid: created, launched"),
    ("/api/units?status=,", 400, "status is empty"),
    ("/api/units?task=study", 400, "task must be a positive integer id, got 'study'"),
    ("/api/units?task=999", 404, "task 999 does not exist"),
    ("/api/units?run=999", 404, "run 999 does not exist"),
    ("/api/units?task=1&run=2", 400, "run 2 belongs to another task than task 1"),
    ("/api/units?worker=999", 404, "worker 999 does not exist"),
    ("/api/units?task=1&task=2", 400, "query parameter 'task' is given twice"),
    ("/api/units?sort=id", 400, "unknown query parameter 'sort'; this endpoint takes: limit, offset, run"),
    ("/api/tasks?x=1", 400, "unknown query parameter 'x'; this endpoint takes: none"),
    ("/api/tasks/nine", 400, "task id must be a positive integer id, got 'nine'"),
    ("/api/tasks/999", 404, "task 999 does not exist"),
    ("/api/units/999", 404, "unit 999 does not exist"),
    ("/api/workers/999", 404, "worker 999 does not exist"),
    ("/api/units/bulk", 400, "unit id must be a positive integer id, got 'bulk'"),
    ("/api/units/1/files/x", 400, "file number must be a number (0 for the first), got 'x'"),
]


@pytest.mark.parametrize(("path", "status", "message"), BAD_GETS)
def test_bad_queries_are_refused_with_a_clear_message(client, path: str, status: int, message: str) -> None:
    reply = client.get(path)
    assert reply.status == status, reply.body
    assert message in reply.error


def test_a_body_that_is_not_a_json_object_is_refused(client) -> None:
    unit_path = f"/api/units/{task_units('study')[0].id}/approve"
    headers = {"Content-Type": "application/json"}
    broken = client.request("POST", unit_path, raw=b"{not json", headers=headers)
    assert broken.status == 400 and "the request body is not valid JSON" in broken.error
    listed = client.request("POST", unit_path, raw=b"[1, 2]", headers=headers)
    assert listed.status == 400 and "must be a JSON object, got list" in listed.error
    binary = client.request("POST", unit_path, raw=b"\xff\xfe", headers=headers)
    assert binary.status == 400 and "not valid JSON" in binary.error
    form = client.request("POST", unit_path, raw=b"feedback=x", headers={"Content-Type": "text/plain"})
    assert form.status == 415 and "application/json" in form.error
    assert reviews() == []


def test_an_oversized_body_is_refused_before_it_is_read(client) -> None:
    unit_path = f"/api/units/{task_units('study')[0].id}/approve"
    reply = client.request("POST", unit_path, raw=b"x" * (300 * 1024), headers={"Content-Type": "application/json"})
    assert reply.status == 413 and "at most 262144" in reply.error
    assert reviews() == []


def test_a_chunked_body_is_refused(client) -> None:
    unit_path = f"/api/units/{task_units('study')[0].id}/approve"
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    reply = client.request("POST", unit_path, raw=b"2\r\n{}\r\n0\r\n\r\n", headers=headers)
    assert reply.status == 411 and "Content-Length" in reply.error
    assert reviews() == []
