"""Submissions on the fake Prolific: the participant's side, review, pagination and the study's own statuses."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import prolific_fake_fixtures as fixtures
import pytest
from mephisto_provider_prolific.testing import REJECTION_CATEGORIES, FakeProlific, ParticipantRefused, Visit
from prolific_fake_fixtures import CODE, LONG_REASON, error_detail, published_study

# The fixtures every file of the fake's tests uses, under the names the tests take.
fake, api = fixtures.fake, fixtures.api


def done(fake: FakeProlific, study_id: str) -> Visit:
    """A participant who started and completed with the right code (AWAITING REVIEW)."""
    visit = fake.start(study_id, fake.new_participant_id())
    assert fake.complete(visit, CODE).status_code == 200
    return visit


def review(api: httpx.Client, submission_id: str, action: str, **extra: str) -> httpx.Response:
    return api.post(f"submissions/{submission_id}/transition/", json={"action": action, **extra})


def reject(api: httpx.Client, submission_id: str) -> httpx.Response:
    return review(api, submission_id, "REJECT", message=LONG_REASON, rejection_category="LOW_EFFORT")


def status_of(api: httpx.Client, study_id: str) -> str:
    status: str = api.get(f"studies/{study_id}/").json()["status"]
    return status


def test_start_fills_the_study_url_and_takes_a_place(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    visit = fake.start(study["id"], "5f0c0c0c0c0c0c0c0c0c0c0c")
    params = parse_qs(urlsplit(visit.url).query)
    assert params == {"pid": ["5f0c0c0c0c0c0c0c0c0c0c0c"], "study": [study["id"]], "session": [visit.session_id]}
    assert visit.url.startswith("https://task.example.org/run?")
    submission = api.get(f"submissions/{visit.submission_id}/").json()
    assert submission["status"] == "ACTIVE"
    assert submission["participant_id"] == "5f0c0c0c0c0c0c0c0c0c0c0c"
    assert submission["study_id"] == study["id"]
    assert api.get(f"studies/{study['id']}/").json()["places_taken"] == 1


def test_start_is_refused_when_prolific_would_refuse(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api, total_available_places=1)
    first = fake.new_participant_id()
    fake.start(study["id"], first)
    with pytest.raises(ParticipantRefused, match="no free place"):
        fake.start(study["id"], fake.new_participant_id())
    api.patch(f"studies/{study['id']}/", json={"total_available_places": 2})
    with pytest.raises(ParticipantRefused, match="already taken part"):
        fake.start(study["id"], first)
    api.post(f"studies/{study['id']}/transition/", json={"action": "PAUSE"})
    with pytest.raises(ParticipantRefused, match="PAUSED"):
        fake.start(study["id"], fake.new_participant_id())


def test_allow_and_block_lists_decide_who_may_start(fake: FakeProlific, api: httpx.Client) -> None:
    allowed, blocked, stranger = (fake.new_participant_id() for _ in range(3))
    allow = api.post(
        "participant-groups/",
        json={"name": "Allow", "workspace_id": fake.default_workspace_id, "participant_ids": [allowed, blocked]},
    ).json()
    block = api.post(
        "participant-groups/",
        json={"name": "Block", "workspace_id": fake.default_workspace_id, "participant_ids": [blocked]},
    ).json()
    filters = [
        {"filter_id": "participant_group_allowlist", "selected_values": [allow["id"]]},
        {"filter_id": "participant_group_blocklist", "selected_values": [block["id"]]},
    ]
    study = published_study(api, filters=filters)
    with pytest.raises(ParticipantRefused, match="allow-list"):
        fake.start(study["id"], stranger)
    with pytest.raises(ParticipantRefused, match="block-list"):
        fake.start(study["id"], blocked)
    assert fake.start(study["id"], allowed).participant_id == allowed


def test_right_code_makes_the_submission_await_review(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    visit = fake.start(study["id"], fake.new_participant_id())
    result = fake.complete(visit, CODE)
    assert result.status_code == 200 and "AWAITING REVIEW" in result.page
    assert result.submission["status"] == "AWAITING REVIEW"
    assert result.submission["study_code"] == CODE
    assert result.submission["completed_at"] is not None
    assert fake.completions() == [(CODE, visit.submission_id, "AWAITING REVIEW")]


def test_wrong_code_is_refused_and_the_submission_stays_active(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    visit = fake.start(study["id"], fake.new_participant_id())
    result = fake.complete(visit, "WRONG")
    assert result.status_code == 400 and "WRONG" in result.page
    assert result.submission["status"] == "ACTIVE"


def test_completion_page_without_cookie_finds_the_only_candidate(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    visit = fake.start(study["id"], fake.new_participant_id())
    page = httpx.get(fake.completion_url, params={"cc": CODE})
    assert page.status_code == 200
    assert fake.submission(visit.submission_id)["status"] == "AWAITING REVIEW"


def test_completion_page_refuses_to_guess_between_participants(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    first = fake.start(study["id"], fake.new_participant_id())
    fake.start(study["id"], fake.new_participant_id())
    ambiguous = httpx.get(fake.completion_url, params={"cc": CODE})
    assert ambiguous.status_code == 400 and "2 ACTIVE submissions" in ambiguous.text
    by_query = httpx.get(fake.completion_url, params={"cc": CODE, "session_id": first.session_id})
    assert by_query.status_code == 200
    assert httpx.get(fake.completion_url).status_code == 400  # no code at all


def test_auto_approve_code_and_group_actions(fake: FakeProlific, api: httpx.Client) -> None:
    group = api.post("participant-groups/", json={"name": "Done", "workspace_id": fake.default_workspace_id}).json()
    codes = [
        {
            "code": "AUTO",
            "code_type": "COMPLETED",
            "actions": [
                {"action": "AUTOMATICALLY_APPROVE"},
                {"action": "ADD_TO_PARTICIPANT_GROUP", "participant_group": group["id"]},
            ],
        }
    ]
    study = published_study(api, completion_codes=codes)
    visit = fake.start(study["id"], fake.new_participant_id())
    assert fake.complete(visit, "AUTO").submission["status"] == "APPROVED"
    assert fake.group_members(group["id"]) == [visit.participant_id]


def test_return_frees_the_place(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api, total_available_places=1)
    visit = fake.start(study["id"], fake.new_participant_id())
    assert fake.return_submission(visit)["status"] == "RETURNED"
    assert api.get(f"studies/{study['id']}/").json()["places_taken"] == 0
    assert fake.start(study["id"], fake.new_participant_id())
    late = fake.complete(visit, CODE)
    assert late.status_code == 400 and "RETURNED" in late.page


def test_time_out_by_hand_and_by_the_clock(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api, estimated_completion_time=5, maximum_allowed_time=10, total_available_places=5)
    by_hand = fake.start(study["id"], fake.new_participant_id())
    assert fake.time_out(by_hand)["status"] == "TIMED-OUT"
    slow = fake.start(study["id"], fake.new_participant_id())
    fake.advance(9 * 60)
    assert fake.submission(slow.submission_id)["status"] == "ACTIVE"
    fake.advance(2 * 60)
    assert api.get(f"submissions/{slow.submission_id}/").json()["status"] == "TIMED-OUT"
    late = fake.complete(slow, CODE)
    assert late.status_code == 400 and "TIMED-OUT" in late.page
    assert api.get(f"studies/{study['id']}/").json()["places_taken"] == 0
    with pytest.raises(ValueError, match="forward"):
        fake.advance(-1)


def test_submissions_list_needs_a_study_and_paginates(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api, total_available_places=5)
    visits = [fake.start(study["id"], fake.new_participant_id()) for _ in range(5)]
    missing = api.get("submissions/")
    assert missing.status_code == 400 and "study" in error_detail(missing)
    page = api.get("submissions/", params={"study": study["id"], "page_size": 2}).json()
    seen = [s["id"] for s in page["results"]]
    assert page["meta"]["count"] == 5 and page["_links"]["previous"]["href"] is None
    while page["_links"]["next"]["href"]:
        page = httpx.get(page["_links"]["next"]["href"], headers=api.headers).json()
        seen += [s["id"] for s in page["results"]]
    assert seen == [v.submission_id for v in visits]
    nested = api.get(f"studies/{study['id']}/submissions/").json()["results"]
    assert [s["id"] for s in nested] == seen


def test_approve_and_reject(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    good, bad = done(fake, study["id"]), done(fake, study["id"])
    approved = review(api, good.submission_id, "APPROVE")
    assert approved.status_code == 200 and approved.json()["status"] == "APPROVED"
    rejected = reject(api, bad.submission_id)
    assert rejected.status_code == 200 and rejected.json()["status"] == "REJECTED"
    assert review(api, good.submission_id, "APPROVE").status_code == 200  # documented: a repeat is ignored
    again = reject(api, good.submission_id)
    assert again.status_code == 400 and "APPROVED" in error_detail(again)


def test_reject_needs_a_long_message_and_a_known_category(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    visit = done(fake, study["id"])
    short = review(api, visit.submission_id, "REJECT", message="too short", rejection_category="LOW_EFFORT")
    assert short.status_code == 400 and "100" in error_detail(short)["message"][0]
    unknown = review(api, visit.submission_id, "REJECT", message=LONG_REASON, rejection_category="RUDE")
    assert unknown.status_code == 400 and "rejection_category" in error_detail(unknown)
    assert "LOW_EFFORT" in REJECTION_CATEGORIES and len(REJECTION_CATEGORIES) == 12
    assert fake.submission(visit.submission_id)["status"] == "AWAITING REVIEW"


def test_active_submission_cannot_be_reviewed(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    visit = fake.start(study["id"], fake.new_participant_id())
    response = review(api, visit.submission_id, "APPROVE")
    assert response.status_code == 400 and "ACTIVE" in error_detail(response)
    assert review(api, visit.submission_id, "PAY").status_code == 400
    assert review(api, "0" * 24, "APPROVE").status_code == 404


def test_bulk_approve_by_participants_and_by_submissions(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api, total_available_places=4)
    a, b, c = (done(fake, study["id"]) for _ in range(3))
    by_pid = api.post(
        "submissions/bulk-approve/", json={"study_id": study["id"], "participant_ids": [a.participant_id]}
    )
    assert by_pid.status_code == 200
    assert api.post("submissions/bulk-approve/", json={"submission_ids": [b.submission_id]}).status_code == 200
    assert [fake.submission(v.submission_id)["status"] for v in (a, b, c)] == [
        "APPROVED",
        "APPROVED",
        "AWAITING REVIEW",
    ]
    stranger = api.post("submissions/bulk-approve/", json={"study_id": study["id"], "participant_ids": ["nobody"]})
    assert stranger.status_code == 400 and "nobody" in str(error_detail(stranger))
    active = fake.start(study["id"], fake.new_participant_id())
    not_ready = api.post("submissions/bulk-approve/", json={"submission_ids": [active.submission_id]})
    assert not_ready.status_code == 400
    assert api.post("submissions/bulk-approve/", json={}).status_code == 400


def test_a_bulk_approval_in_the_background_shows_after_as_many_reads(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api, total_available_places=2)
    a, b = (done(fake, study["id"]) for _ in range(2))
    fake.approve_in_background(reads=2)
    assert api.post("submissions/bulk-approve/", json={"submission_ids": [a.submission_id]}).status_code == 200
    assert api.get(f"submissions/{a.submission_id}/").json()["status"] == "AWAITING REVIEW"
    listed = api.get(f"studies/{study['id']}/submissions/").json()["results"]
    assert {s["id"]: s["status"] for s in listed} == {a.submission_id: "APPROVED", b.submission_id: "AWAITING REVIEW"}
    with pytest.raises(ValueError, match="0 or more"):
        fake.approve_in_background(reads=-1)


def test_full_study_awaits_review_then_completes(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api, total_available_places=2)
    first = done(fake, study["id"])
    second = fake.start(study["id"], fake.new_participant_id())
    assert status_of(api, study["id"]) == "ACTIVE"  # someone is still working
    fake.complete(second, CODE)
    assert status_of(api, study["id"]) == "AWAITING REVIEW"
    review(api, first.submission_id, "APPROVE")
    assert status_of(api, study["id"]) == "AWAITING REVIEW"
    review(api, second.submission_id, "APPROVE")
    assert status_of(api, study["id"]) == "COMPLETED"
    grown = api.patch(f"studies/{study['id']}/", json={"total_available_places": 3}).json()
    assert grown["status"] == "ACTIVE"  # more places: it recruits again


def test_rejection_in_a_full_study_pauses_it(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api, total_available_places=2)
    first, _ = done(fake, study["id"]), done(fake, study["id"])
    assert status_of(api, study["id"]) == "AWAITING REVIEW"
    reject(api, first.submission_id)
    assert status_of(api, study["id"]) == "PAUSED"
    api.post(f"studies/{study['id']}/transition/", json={"action": "START"})
    assert status_of(api, study["id"]) == "ACTIVE"
    assert fake.start(study["id"], fake.new_participant_id())


def test_return_after_completion_in_a_full_study_pauses_it(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api, total_available_places=1)
    visit = done(fake, study["id"])
    assert status_of(api, study["id"]) == "AWAITING REVIEW"
    fake.return_submission(visit)
    assert status_of(api, study["id"]) == "PAUSED"


def test_stopped_study_completes_once_everything_is_reviewed(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api, total_available_places=5)
    working = fake.start(study["id"], fake.new_participant_id())
    api.post(f"studies/{study['id']}/transition/", json={"action": "STOP"})
    assert status_of(api, study["id"]) == "AWAITING REVIEW"
    with pytest.raises(ParticipantRefused):
        fake.start(study["id"], fake.new_participant_id())
    fake.complete(working, CODE)  # someone already inside may still finish
    review(api, working.submission_id, "APPROVE")
    assert status_of(api, study["id"]) == "COMPLETED"


def test_researcher_can_complete_an_active_submission_with_a_code(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    visit = fake.start(study["id"], fake.new_participant_id())
    wrong = review(api, visit.submission_id, "COMPLETE", completion_code="NOPE")
    assert wrong.status_code == 400 and "NOPE" in error_detail(wrong)
    assert review(api, visit.submission_id, "COMPLETE").status_code == 400  # the code is required
    completed = review(api, visit.submission_id, "COMPLETE", completion_code=CODE)
    assert completed.status_code == 200 and completed.json()["status"] == "AWAITING REVIEW"


def test_screen_out_code_frees_the_place(fake: FakeProlific, api: httpx.Client) -> None:
    codes = [
        {"code": CODE, "code_type": "COMPLETED", "actions": [{"action": "MANUALLY_REVIEW"}]},
        {"code": "OUT", "code_type": "FIXED_SCREENOUT", "actions": []},
    ]
    study = published_study(api, completion_codes=codes, total_available_places=1)
    visit = fake.start(study["id"], fake.new_participant_id())
    assert fake.complete(visit, "OUT").submission["status"] == "SCREENED OUT"
    assert api.get(f"studies/{study['id']}/").json()["places_taken"] == 0
    assert fake.start(study["id"], fake.new_participant_id())


def test_request_return_marks_the_submission(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    visit = done(fake, study["id"])
    path = f"submissions/{visit.submission_id}/request-return/"
    assert api.post(path, json={"request_return_reasons": []}).status_code == 400
    asked = api.post(path, json={"request_return_reasons": ["Encountered technical problems"]})
    assert asked.status_code == 200
    assert asked.json()["status"] == "AWAITING REVIEW" and asked.json()["return_requested"].endswith("Z")
    assert fake.submission(visit.submission_id)["return_requested"] == asked.json()["return_requested"]
    fake.return_submission(visit)
    late = api.post(path, json={"request_return_reasons": ["Other"]})
    assert late.status_code == 400 and "RETURNED" in error_detail(late)


def test_browser_cookie_identifies_the_participant(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    first = fake.start(study["id"], fake.new_participant_id())
    fake.start(study["id"], fake.new_participant_id())
    [cookie] = fake.browser_cookies(first)
    assert cookie["url"] == fake.completion_url.removesuffix("/submissions/complete")
    page = httpx.get(fake.completion_url, params={"cc": CODE}, cookies={cookie["name"]: cookie["value"]})
    assert page.status_code == 200
    assert fake.submission(first.submission_id)["status"] == "AWAITING REVIEW"


def test_bulk_approve_refuses_ids_that_are_not_strings(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    response = api.post("submissions/bulk-approve/", json={"study_id": study["id"], "participant_ids": [{"id": 1}]})
    assert response.status_code == 400 and "participant_ids" in error_detail(response)
    assert fake.server_errors == []
