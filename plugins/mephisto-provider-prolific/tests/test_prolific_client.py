"""The httpx client: retries on 429 (honouring Retry-After) and 5xx, no retry of a POST that may have been
applied, errors without the token, pagination. Driven through httpx.MockTransport (the wire is tested against
the fake in test_prolific_provider.py)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from mephisto_provider_prolific.client import ProlificAPIError, ProlificClient
from mephisto_provider_prolific.models import User

TOKEN = "secret-token-123"


def make_client(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float], **kw: object
) -> ProlificClient:
    return ProlificClient(
        TOKEN,
        "https://api.example/api/v1/",
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        **kw,  # type: ignore[arg-type]
    )


def scripted(
    *answers: httpx.Response | Exception,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def test_429_is_retried_after_the_seconds_retry_after_asks() -> None:
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json={"id": "u1", "email": "a@b"})
    )
    sleeps: list[float] = []
    user = make_client(handler, sleeps).get_model("users/me/", User)
    assert user.id == "u1"
    assert sleeps == [3.0]
    assert len(seen) == 2
    assert seen[0].headers["Authorization"] == f"Token {TOKEN}"
    assert str(seen[0].url) == "https://api.example/api/v1/users/me/"


def test_5xx_is_retried_with_exponential_backoff_then_succeeds() -> None:
    handler, seen = scripted(httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"ok": True}))
    sleeps: list[float] = []
    assert make_client(handler, sleeps).request("POST", "studies/x/transition/", json={"action": "STOP"}) == {
        "ok": True
    }
    assert sleeps == [0.5, 1.0]
    assert len(seen) == 3


def test_retries_end_with_an_error_naming_the_status() -> None:
    handler, seen = scripted(*[httpx.Response(500, json={"error": {"detail": "boom"}})] * 3)
    sleeps: list[float] = []
    with pytest.raises(ProlificAPIError, match="HTTP 500: boom") as caught:
        make_client(handler, sleeps, max_retries=2).request("GET", "studies/")
    assert caught.value.status == 500
    assert len(seen) == 3 and len(sleeps) == 2


def test_a_retry_after_too_long_is_reported_instead_of_waited() -> None:
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": "3600"}))
    sleeps: list[float] = []
    with pytest.raises(ProlificAPIError, match="asked to wait 3600 s"):
        make_client(handler, sleeps).request("GET", "studies/")
    assert sleeps == []


def test_http_date_retry_after_is_understood() -> None:
    handler, _ = scripted(
        httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), httpx.Response(200, json=[])
    )
    sleeps: list[float] = []
    make_client(handler, sleeps).request("GET", "studies/")
    assert sleeps == [0.0]  # a date in the past: try again at once


def test_a_post_whose_answer_timed_out_is_not_sent_again() -> None:
    handler, seen = scripted(httpx.ReadTimeout("slow"), httpx.Response(200, json={}))
    with pytest.raises(ProlificAPIError, match="did not answer in time"):
        make_client(handler, []).request("POST", "bulk-bonus-payments/b/pay/")
    assert len(seen) == 1


def test_a_get_whose_answer_timed_out_is_retried() -> None:
    handler, seen = scripted(httpx.ReadTimeout("slow"), httpx.Response(200, json={"id": "u", "email": None}))
    assert make_client(handler, []).get_model("users/me/", User).id == "u"
    assert len(seen) == 2


def test_a_refusal_never_shows_the_token() -> None:
    handler, _ = scripted(httpx.Response(401, json={"error": {"detail": f"bad token {TOKEN}"}}))
    with pytest.raises(ProlificAPIError) as caught:
        make_client(handler, []).request("GET", "users/me/")
    assert TOKEN not in str(caught.value)
    assert "HTTP 401" in str(caught.value)


def test_list_follows_next_links() -> None:
    handler, seen = scripted(
        httpx.Response(
            200,
            json={
                "results": [{"id": "a", "email": None}],
                "_links": {"next": {"href": "https://api.example/api/v1/x/?page=2"}},
            },
        ),
        httpx.Response(200, json={"results": [{"id": "b", "email": None}], "_links": {"next": {"href": None}}}),
    )
    users = make_client(handler, []).list_models("x/", User)
    assert [u.id for u in users] == ["a", "b"]
    assert str(seen[1].url) == "https://api.example/api/v1/x/?page=2"


def test_a_list_is_read_past_a_thousand_pages_and_a_next_link_that_loops_is_a_clear_error() -> None:
    def pages(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page", "1"))
        following = f"https://api.example/api/v1/x/?page={number + 1}" if number < 1200 else None
        return httpx.Response(200, json={"results": [{"id": str(number)}], "_links": {"next": {"href": following}}})

    users, read = make_client(pages, []).listing("x/", User)
    assert read == 1200 and users[-1].id == "1200"  # a study of 120,000 submissions, 100 a page

    looping, _ = scripted(
        *[
            httpx.Response(
                200, json={"results": [], "_links": {"next": {"href": f"https://api.example/api/v1/x/?page={page}"}}}
            )
            for page in (2, 3, 2)
        ]
    )
    with pytest.raises(ProlificAPIError, match=r"pages of GET x/ lead back to .*page=2: the list never ends"):
        make_client(looping, []).list_models("x/", User)


def test_an_answer_of_the_wrong_shape_is_a_clear_error() -> None:
    handler, _ = scripted(httpx.Response(200, json={"name": "no id"}))
    with pytest.raises(ProlificAPIError, match="not a User"):
        make_client(handler, []).get_model("users/me/", User)
