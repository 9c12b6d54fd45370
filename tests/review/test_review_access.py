"""The session token guards every page, asset, API call and file: without it (or with a wrong one) 403."""

from __future__ import annotations

import pytest
from review_helpers import ledger, reviews, status_of, task_units

from mephisto_core.review_app import ReviewApp
from mephisto_core.review_app.app import new_token
from mephisto_core.settings import Settings

API_READS = ["/api/session", "/api/tasks", "/api/tasks/1", "/api/units", "/api/units/1", "/api/workers/1"]


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_page_without_the_right_token_shows_a_refusal(client, token) -> None:
    path = "/" if token is None else f"/?token={token}"
    reply = client.get(path, token=None)
    assert reply.status == 403
    assert reply.headers["content-type"].startswith("text/html")
    assert b"Access refused" in reply.body
    assert b"mephisto review" in reply.body


def test_page_with_the_token_serves_the_app_and_its_assets_carry_the_token(client) -> None:
    reply = client.get(f"/?token={client.token}", token=None)
    assert reply.status == 200
    page = reply.body.decode()
    assert f"/static/app.js?token={client.token}" in page
    assert f"/static/app.css?token={client.token}" in page
    assert "script-src 'self'" in reply.headers["content-security-policy"]
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert reply.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("asset", ["app.js", "app.css"])
def test_static_assets_need_the_token(client, asset) -> None:
    assert client.get(f"/static/{asset}", token=None).status == 403
    assert client.get(f"/static/{asset}?token=nope", token=None).status == 403
    reply = client.get(f"/static/{asset}?token={client.token}", token=None)
    assert reply.status == 200 and len(reply.body) > 1000


@pytest.mark.parametrize("path", API_READS)
@pytest.mark.parametrize("token", [None, "wrong-token", "Bearer", ""])
def test_api_reads_without_the_right_token_get_403_json(client, path, token) -> None:
    reply = client.get(path, token=token if token != "" else "x" * 32)
    assert reply.status == 403
    assert "access token" in reply.error


def test_a_token_missing_its_last_character_is_refused(client) -> None:
    assert client.get("/api/tasks", token=client.token[:-1]).status == 403
    assert client.get("/api/tasks", token=client.token + "x").status == 403
    assert client.get("/api/tasks").status == 200


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_actions_without_the_right_token_change_nothing(client, mephisto_settings: Settings, token) -> None:
    unit = task_units("study")[0]
    reply = client.post(f"/api/units/{unit.id}/approve", {}, token=token)
    assert reply.status == 403
    bulk = client.post("/api/units/bulk", {"action": "approve", "unit_ids": [unit.id]}, token=token)
    assert bulk.status == 403
    block = client.post(f"/api/workers/{unit.worker_id}/block", {"reason": "x"}, token=token)
    assert block.status == 403
    assert status_of(unit.id) == "completed"
    assert reviews() == []
    assert ledger(mephisto_settings) == []


def test_a_token_in_the_query_is_not_enough_for_an_action(client) -> None:
    unit = task_units("study")[0]
    reply = client.post(f"/api/units/{unit.id}/approve?token={client.token}", {}, token=None)
    assert reply.status == 403
    assert status_of(unit.id) == "completed"


def test_file_downloads_need_the_token(client) -> None:
    unit = task_units("study")[0]
    path = f"/api/units/{unit.id}/files/0"
    assert client.get(path, token=None).status == 403
    assert client.get(f"{path}?token=wrong", token=None).status == 403
    assert client.get(f"{path}?token={client.token}", token=None).status == 200
    assert client.get(path).status == 200  # the bearer header works too


def test_unknown_paths_need_the_token_before_saying_they_do_not_exist(client) -> None:
    assert client.get("/etc/passwd", token=None).status == 403
    reply = client.get("/api/nothing-here")
    assert reply.status == 404 and "no API endpoint" in reply.error


def test_every_session_gets_its_own_random_token(review_db, mephisto_settings: Settings) -> None:
    first, second = ReviewApp(mephisto_settings, review_db), ReviewApp(mephisto_settings, review_db)
    assert first.token != second.token
    assert len(first.token) >= 32
    assert len({new_token() for _ in range(50)}) == 50
    assert first.token_matches(first.token)
    assert not first.token_matches(second.token)
    assert not first.token_matches(None)
    assert not first.token_matches("")
