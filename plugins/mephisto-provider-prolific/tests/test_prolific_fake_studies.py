"""Studies on the fake Prolific: drafts, validation, listing, PATCH rules and the transition state machine."""

from __future__ import annotations

import httpx
import prolific_fake_fixtures as fixtures
import pytest
from mephisto_provider_prolific.testing import FakeProlific
from prolific_fake_fixtures import STUDY_URL, create_study, error_detail, published_study, study_body

# The fixtures every file of the fake's tests uses, under the names the tests take.
fake, api = fixtures.fake, fixtures.api


def transition(api: httpx.Client, study_id: str, action: str) -> httpx.Response:
    return api.post(f"studies/{study_id}/transition/", json={"action": action})


def test_created_study_is_a_draft_echoing_what_was_sent(fake: FakeProlific, api: httpx.Client) -> None:
    study = create_study(api)
    assert study["status"] == "UNPUBLISHED"
    assert len(study["id"]) == 24
    assert study["external_study_url"] == STUDY_URL
    assert study["reward"] == 150 and study["total_available_places"] == 3
    assert study["project"] == fake.default_project_id
    assert study["places_taken"] == 0
    assert study["date_created"].endswith("Z")
    assert api.get(f"studies/{study['id']}/").json() == study


def test_study_goes_into_the_project_named(api: httpx.Client, fake: FakeProlific) -> None:
    project = api.post(f"workspaces/{fake.default_workspace_id}/projects/", json={"title": "Other"}).json()
    study = create_study(api, project=project["id"])
    assert study["project"] == project["id"]
    listed = api.get(f"projects/{project['id']}/studies/").json()["results"]
    assert [s["id"] for s in listed] == [study["id"]]
    assert api.get(f"projects/{fake.default_project_id}/studies/").json()["results"] == []


def test_missing_required_fields_are_each_named(api: httpx.Client) -> None:
    response = api.post("studies/", json={"name": "only a name"})
    assert response.status_code == 400
    detail = error_detail(response)
    for field in ("description", "external_study_url", "completion_codes", "reward", "total_available_places"):
        assert detail[field] == ["This field is required."]
    assert "name" not in detail


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reward": "1.50"}, "reward"),
        ({"reward": 0}, "reward"),
        ({"total_available_places": -1}, "total_available_places"),
        ({"external_study_url": "not a url"}, "external_study_url"),
        ({"external_study_url": "https://task.example.org/run"}, "external_study_url"),  # url_parameters needs PID
        ({"prolific_id_option": "email"}, "prolific_id_option"),
        ({"completion_codes": []}, "completion_codes"),
        ({"completion_codes": [{"code": "X", "code_type": "DONE", "actions": []}]}, "completion_codes[0].code_type"),
        (
            {"completion_codes": [{"code": "X", "code_type": "COMPLETED", "actions": [{"action": "PAY"}]}]},
            "completion_codes[0].actions[0]",
        ),
        ({"device_compatibility": ["watch"]}, "device_compatibility"),
        ({"maximum_allowed_time": 2, "estimated_completion_time": 5}, "maximum_allowed_time"),
        ({"filters": [{"selected_values": ["x"]}]}, "filters[0]"),
        ({"filters": [{"filter_id": "age"}]}, "filters[0]"),
        ({"filters": [{"filter_id": "age", "selected_range": {"lower": 1}, "selected_values": ["1"]}]}, "filters[0]"),
        ({"filters": [{"filter_id": "x", "selected_values": [1]}]}, "filters[0].selected_values"),
        ({"filters": [{"filter_id": "age", "selected_range": {"min": 1}}]}, "filters[0].selected_range"),
        ({"filters": "age"}, "filters"),
        ({"project": "000000000000000000000000"}, "project"),
    ],
)
def test_invalid_study_fields_are_refused_naming_the_field(
    api: httpx.Client, overrides: dict[str, object], field: str
) -> None:
    response = api.post("studies/", json=study_body(**overrides))
    assert response.status_code == 400
    assert field in error_detail(response)


def test_url_without_pid_is_fine_when_the_id_is_not_taken_from_the_url(api: httpx.Client) -> None:
    study = create_study(api, external_study_url="https://task.example.org/run", prolific_id_option="question")
    assert study["prolific_id_option"] == "question"


def test_default_maximum_allowed_time_is_longer_than_the_estimate(api: httpx.Client) -> None:
    assert create_study(api)["maximum_allowed_time"] > 5
    assert create_study(api, maximum_allowed_time=30)["maximum_allowed_time"] == 30


def test_list_filters_by_state_in_prolifics_parenthesised_form(api: httpx.Client) -> None:
    draft = create_study(api)
    active = published_study(api)
    paused = published_study(api)
    assert transition(api, paused["id"], "PAUSE").status_code == 200

    def ids(query: str) -> set[str]:
        return {s["id"] for s in api.get("studies/", params={"state": query}).json()["results"]}

    assert ids("UNPUBLISHED") == {draft["id"]}
    assert ids("(ACTIVE|PAUSED)") == {active["id"], paused["id"]}
    assert len(api.get("studies/").json()["results"]) == 3
    bad = api.get("studies/", params={"state": "FINISHED"})
    assert bad.status_code == 400 and "FINISHED" in str(error_detail(bad))


def test_studies_list_paginates(api: httpx.Client) -> None:
    for index in range(5):
        create_study(api, internal_name=f"run-{index}")
    page = api.get("studies/", params={"page_size": 2}).json()
    names = [s["internal_name"] for s in page["results"]]
    while page["_links"]["next"]["href"]:
        page = httpx.get(page["_links"]["next"]["href"], headers=api.headers).json()
        names += [s["internal_name"] for s in page["results"]]
    assert names == [f"run-{i}" for i in range(5)]
    assert page["meta"]["count"] == 5
    assert page["_links"]["previous"]["href"] is not None
    assert api.get("studies/", params={"page": 9, "page_size": 2}).status_code == 400


def test_draft_can_be_patched_freely(api: httpx.Client) -> None:
    study = create_study(api)
    response = api.patch(f"studies/{study['id']}/", json={"reward": 300, "description": "New words"})
    assert response.status_code == 200
    assert response.json()["reward"] == 300 and response.json()["description"] == "New words"
    bad = api.patch(f"studies/{study['id']}/", json={"reward": -3})
    assert bad.status_code == 400 and "reward" in error_detail(bad)
    assert api.get(f"studies/{study['id']}/").json()["reward"] == 300


def test_published_study_only_changes_internal_name_and_places(api: httpx.Client) -> None:
    study = published_study(api)
    refused = api.patch(f"studies/{study['id']}/", json={"reward": 999})
    assert refused.status_code == 400 and "reward" in error_detail(refused)
    same_value = api.patch(f"studies/{study['id']}/", json={"reward": 150, "internal_name": "renamed"})
    assert same_value.status_code == 200 and same_value.json()["internal_name"] == "renamed"
    grown = api.patch(f"studies/{study['id']}/", json={"total_available_places": 10})
    assert grown.status_code == 200 and grown.json()["total_available_places"] == 10


def test_places_cannot_shrink_below_places_taken(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api, total_available_places=5)
    for _ in range(3):
        fake.start(study["id"], fake.new_participant_id())
    refused = api.patch(f"studies/{study['id']}/", json={"total_available_places": 2})
    assert refused.status_code == 400
    assert "3 places already taken" in error_detail(refused)["total_available_places"][0]
    assert api.patch(f"studies/{study['id']}/", json={"total_available_places": 3}).status_code == 200


def test_only_drafts_can_be_deleted(api: httpx.Client) -> None:
    draft = create_study(api)
    assert api.delete(f"studies/{draft['id']}/").status_code == 204
    assert api.get(f"studies/{draft['id']}/").status_code == 404
    live = published_study(api)
    refused = api.delete(f"studies/{live['id']}/")
    assert refused.status_code == 400 and "UNPUBLISHED" in error_detail(refused)


def test_publish_pause_start_stop(api: httpx.Client) -> None:
    study = create_study(api)
    published = transition(api, study["id"], "PUBLISH").json()
    assert published["status"] == "ACTIVE" and published["published_at"] is not None
    assert transition(api, study["id"], "PAUSE").json()["status"] == "PAUSED"
    assert transition(api, study["id"], "START").json()["status"] == "ACTIVE"
    assert transition(api, study["id"], "STOP").json()["status"] == "COMPLETED"  # nobody took part


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ([], "PAUSE"),
        ([], "START"),
        ([], "STOP"),
        (["PUBLISH"], "PUBLISH"),
        (["PUBLISH"], "START"),
        (["PUBLISH", "PAUSE"], "PAUSE"),
        (["PUBLISH", "STOP"], "START"),
        (["PUBLISH", "STOP"], "PAUSE"),
        (["PUBLISH", "STOP"], "STOP"),
        (["PUBLISH", "STOP"], "PUBLISH"),
    ],
)
def test_illegal_transitions_are_400_and_change_nothing(api: httpx.Client, setup: list[str], action: str) -> None:
    study = create_study(api)
    for step in setup:
        assert transition(api, study["id"], step).status_code == 200
    before = api.get(f"studies/{study['id']}/").json()["status"]
    response = transition(api, study["id"], action)
    assert response.status_code == 400
    assert action in error_detail(response)
    assert api.get(f"studies/{study['id']}/").json()["status"] == before


def test_unknown_action_is_400(api: httpx.Client) -> None:
    study = create_study(api)
    response = transition(api, study["id"], "LAUNCH")
    assert response.status_code == 400 and "action" in error_detail(response)


def test_transition_of_unknown_study_is_404(api: httpx.Client) -> None:
    assert transition(api, "0" * 24, "PUBLISH").status_code == 404


def test_publish_needs_the_balance_to_cover_the_cost(fake: FakeProlific, api: httpx.Client) -> None:
    study = create_study(api, reward=100, total_available_places=10)
    assert study["total_cost"] > 1000  # rewards plus service fee
    fake.set_balance(1000)
    refused = transition(api, study["id"], "PUBLISH")
    assert refused.status_code == 400 and "balance" in error_detail(refused)
    fake.set_balance(study["total_cost"])
    assert transition(api, study["id"], "PUBLISH").json()["status"] == "ACTIVE"


def test_stopped_study_with_work_in_progress_awaits_review(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    fake.start(study["id"], fake.new_participant_id())
    stopped = transition(api, study["id"], "STOP").json()
    assert stopped["status"] == "AWAITING REVIEW"
    grown = api.patch(f"studies/{study['id']}/", json={"total_available_places": 9})
    assert grown.status_code == 400 and "stopped" in error_detail(grown)["total_available_places"][0]


def test_patch_project_of_a_draft_and_same_project_of_a_published_study(fake: FakeProlific, api: httpx.Client) -> None:
    other = api.post(f"workspaces/{fake.default_workspace_id}/projects/", json={"title": "Other"}).json()
    draft = create_study(api)
    moved = api.patch(f"studies/{draft['id']}/", json={"project": other["id"], "reward": 0})
    assert moved.status_code == 400  # a bad field leaves the project as it was
    assert api.get(f"studies/{draft['id']}/").json()["project"] == fake.default_project_id
    assert api.patch(f"studies/{draft['id']}/", json={"project": other["id"]}).json()["project"] == other["id"]
    live = published_study(api)
    same = api.patch(f"studies/{live['id']}/", json={"project": live["project"], "internal_name": "x"})
    assert same.status_code == 200
    assert api.patch(f"studies/{live['id']}/", json={"project": other["id"]}).status_code == 400


def test_null_optional_fields_take_their_defaults(api: httpx.Client) -> None:
    study = create_study(api, filters=None, maximum_allowed_time=None, internal_name=None, project=None)
    assert study["filters"] == [] and study["maximum_allowed_time"] > 5 and study["internal_name"] == study["name"]
    nulled = api.patch(f"studies/{study['id']}/", json={"reward": None})
    assert nulled.status_code == 400 and error_detail(nulled)["reward"] == ["This field may not be null."]
