"""Hostile bodies on every route of the fake Prolific: a clear 4xx, never a crash (500) and no half-made record."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mephisto_provider_prolific.testing import FakeProlific, ParticipantRefused
from mephisto_provider_prolific.testing._routes import ROUTES
from prolific_fake_fixtures import CODE, api_client, create_study, published_study, study_body

GARBAGE: list[Any] = [
    None,
    [],
    "text",
    17,
    {},
    {"action": None, "participant_ids": "p", "study_id": 5, "csv_bonuses": ["x"], "name": {"a": 1}},
    {"title": 3, "description": [], "workspace_id": [], "project_id": {}, "recipient_id": 1, "body": None},
    {"reward": None, "total_available_places": None, "completion_codes": "C", "filters": "f"},
    {"filters": [{"filter_id": "participant_group_allowlist", "selected_values": 5}]},
    {"filters": [{"filter_id": "age", "selected_range": "young"}], "device_compatibility": "desktop"},
    {"completion_codes": [{"code": 1, "code_type": None, "actions": [1, None, {"action": []}]}]},
    {"external_study_url": 12, "prolific_id_option": [], "maximum_allowed_time": "long"},
    {"action": "REJECT", "message": 5, "rejection_category": []},
    {"action": "COMPLETE", "completion_code": ["x"]},
    {"submission_ids": [None, 3]},
    {"request_return_reasons": "because"},
    {"participant_ids": [None]},
]


@pytest.fixture
def fake() -> Iterator[FakeProlific]:
    with FakeProlific() as running:
        yield running


@pytest.fixture
def api(fake: FakeProlific) -> Iterator[httpx.Client]:
    with api_client(fake) as client:
        yield client


def real_ids(fake: FakeProlific, api: httpx.Client, *, draft: bool) -> dict[str, str]:
    """Ids that exist, so the garbage reaches the handlers' validation rather than a 404."""
    study = published_study(api)
    visit = fake.start(study["id"], fake.new_participant_id())
    fake.complete(visit, CODE)
    group = api.post("participant-groups/", json={"name": "G", "workspace_id": fake.default_workspace_id}).json()
    bulk = api.post(
        "submissions/bonus-payments/", json={"study_id": study["id"], "csv_bonuses": f"{visit.participant_id},1"}
    ).json()
    return {
        "workspace_id": fake.default_workspace_id,
        "project_id": fake.default_project_id,
        "study_id": create_study(api)["id"] if draft else study["id"],
        "submission_id": visit.submission_id,
        "group_id": group["id"],
        "bonus_id": bulk["id"],
    }


def concrete_path(pattern: str, ids: dict[str, str]) -> str:
    path = pattern
    for name, value in ids.items():
        path = path.replace(f"(?P<{name}>[^/]+)", value)
    assert "(" not in path, f"no id for {pattern}"
    return path


FIELDS = sorted({key for body in GARBAGE if isinstance(body, dict) for key in body} | set(study_body()))
ODD_VALUES: list[Any] = [None, "", "s", -1, 0, 1.5, True, [], [None], {}, {"x": None}]


def bodies(*, field_by_field: bool = False) -> list[Any]:
    """The garbage and each garbage object laid over a valid study; `field_by_field` adds each known field
    alone with an odd value, bare and over a valid study."""
    extra = [{field: value} for field in FIELDS for value in ODD_VALUES] if field_by_field else []
    return GARBAGE + extra + [study_body() | body for body in GARBAGE + extra if isinstance(body, dict)]


@pytest.mark.parametrize("draft", [True, False], ids=["draft-study", "published-study"])
def test_every_route_answers_garbage_with_a_4xx(fake: FakeProlific, api: httpx.Client, draft: bool) -> None:
    ids = real_ids(fake, api, draft=draft)
    answered: dict[int, int] = {}
    routes = sorted(ROUTES, key=lambda route: route[0] == "DELETE")  # deletions last: the rest still finds its ids
    for (method, pattern, _), body in itertools.product(routes, bodies()):
        path = concrete_path(pattern.pattern, ids)
        if method == "GET":
            response = api.request(method, path, params={"page": "x", "page_size": "-1", "state": "(|)"})
        else:
            response = api.request(method, path, json=body)
        answered[response.status_code] = answered.get(response.status_code, 0) + 1
        assert response.status_code < 500, f"{method} {path} {body!r}: {response.text}"
        if response.status_code >= 400:
            assert "error" in response.json(), f"{method} {path}: {response.text}"
    assert fake.server_errors == []
    assert answered.get(400, 0) > len(ROUTES)  # most garbage is refused as a bad request


def test_study_fields_one_by_one(fake: FakeProlific, api: httpx.Client) -> None:
    """Every study field alone with an odd value, on create and on PATCH of a draft."""
    draft = create_study(api)["id"]
    for body in bodies(field_by_field=True):
        for method, path in (("POST", "studies/"), ("PATCH", f"studies/{draft}/")):
            response = api.request(method, path, json=body)
            assert response.status_code in (200, 201, 400), f"{method} {path} {body!r}: {response.text}"
    assert fake.server_errors == []


def test_studies_made_from_odd_but_accepted_fields_still_run(fake: FakeProlific, api: httpx.Client) -> None:
    """Whatever a draft accepted, publishing it and a participant's visit answer cleanly (or refuse clearly)."""
    made = 0
    for body in bodies(field_by_field=True):
        if not isinstance(body, dict) or set(body) < set(study_body()):
            continue
        created = api.post("studies/", json=body)
        assert created.status_code in (201, 400), created.text
        if created.status_code != 201:
            continue
        made += 1
        study_id = created.json()["id"]
        assert api.post(f"studies/{study_id}/transition/", json={"action": "PUBLISH"}).status_code < 500
        try:
            visit = fake.start(study_id, fake.new_participant_id())
        except ParticipantRefused:
            continue
        assert fake.complete(visit, CODE).status_code in (200, 400)
    assert made > 10
    assert fake.server_errors == []
