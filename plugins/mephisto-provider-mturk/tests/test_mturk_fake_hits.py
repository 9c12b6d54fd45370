"""HIT types, HITs and their lifecycle on the fake MTurk, through the real boto3 client."""

from __future__ import annotations

import datetime as dt
from typing import Any

import mturk_fake_fixtures as fx
import pytest
from botocore.exceptions import ClientError
from mephisto_provider_mturk.testing import FakeMTurk
from mturk_fake_fixtures import external_question, make_client, make_hit

fake, mturk = fx.fake, fx.mturk  # the shared fixtures, under their own names


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, str]:
    response: Any = excinfo.value.response
    return response["Error"]["Code"], response.get("TurkErrorCode", ""), response["Error"]["Message"]


def test_same_hit_type_values_give_the_same_hit_type_id(fake: FakeMTurk, mturk: Any) -> None:
    args = dict(AssignmentDurationInSeconds=600, Reward="0.50", Title="T", Description="D")
    first = mturk.create_hit_type(**args)["HITTypeId"]
    assert mturk.create_hit_type(**args)["HITTypeId"] == first
    assert mturk.create_hit_type(**{**args, "Reward": "0.51"})["HITTypeId"] != first
    assert len(fake.snapshot().hit_types) == 2


def test_created_hit_reads_back_with_botocore_types(mturk: Any) -> None:
    hit = make_hit(mturk, max_assignments=3, reward="1.25")
    got = mturk.get_hit(HITId=hit["HITId"])["HIT"]
    assert got["HITStatus"] == "Assignable"
    assert got["Reward"] == "1.25"
    assert got["MaxAssignments"] == 3
    assert got["NumberOfAssignmentsAvailable"] == 3
    assert got["RequesterAnnotation"] == "unit-1"
    assert got["Question"] == external_question()
    assert isinstance(got["CreationTime"], dt.datetime)
    lifetime = got["Expiration"] - got["CreationTime"]
    assert lifetime == dt.timedelta(seconds=3600)


def test_create_hit_makes_its_own_hit_type(mturk: Any) -> None:
    hit = mturk.create_hit(
        LifetimeInSeconds=300,
        AssignmentDurationInSeconds=120,
        Reward="0.10",
        Title="Quick",
        Description="A quick one",
        Question=external_question(),
    )["HIT"]
    assert hit["HITTypeId"]
    assert hit["AutoApprovalDelayInSeconds"] == 2_592_000  # MTurk's default, 30 days


def test_unique_request_token_repeat_returns_hit_already_exists_naming_the_hit(mturk: Any) -> None:
    hit = make_hit(mturk, token="unit-7-publish")
    with pytest.raises(ClientError) as excinfo:
        make_hit(mturk, token="unit-7-publish")
    code, turk_code, message = _error(excinfo)
    assert (code, turk_code) == ("RequestError", "AWS.MechanicalTurk.HitAlreadyExists")
    assert hit["HITId"] in message
    assert len(mturk.list_hits()["HITs"]) == 1


def test_unique_request_token_expires_after_24_hours(fake: FakeMTurk, mturk: Any) -> None:
    make_hit(mturk, token="once-a-day")
    fake.advance(24 * 3600 + 1)
    make_hit(mturk, token="once-a-day")
    assert len(fake.snapshot().hits) == 2


def test_unknown_hit_is_a_request_error(mturk: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        mturk.get_hit(HITId="3NOSUCHHIT000000000000000000000")
    code, _, message = _error(excinfo)
    assert code == "RequestError"
    assert "does not exist" in message


def test_hits_of_another_account_are_invisible(fake: FakeMTurk, mturk: Any) -> None:
    hit = make_hit(mturk)
    fake.add_account("AKIAOTHERACCOUNT0000", "other-secret")
    other = make_client(fake, aws_access_key_id="AKIAOTHERACCOUNT0000", aws_secret_access_key="other-secret")
    assert other.list_hits()["HITs"] == []
    with pytest.raises(ClientError):
        other.get_hit(HITId=hit["HITId"])


def test_list_hits_paginates_with_next_token(mturk: Any) -> None:
    made = [make_hit(mturk)["HITId"] for _ in range(7)]
    first = mturk.list_hits(MaxResults=3)
    assert first["NumResults"] == 3
    second = mturk.list_hits(MaxResults=3, NextToken=first["NextToken"])
    third = mturk.list_hits(MaxResults=3, NextToken=second["NextToken"])
    assert "NextToken" not in third
    seen = [h["HITId"] for page in (first, second, third) for h in page["HITs"]]
    assert seen == made
    paged = [
        h["HITId"]
        for page in mturk.get_paginator("list_hits").paginate(PaginationConfig={"PageSize": 2})
        for h in page["HITs"]
    ]
    assert paged == made


def test_bad_pagination_token_is_refused(mturk: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        mturk.list_hits(NextToken="not-a-token")
    assert _error(excinfo)[0] == "RequestError"


def test_lifecycle_assignable_unassignable_reviewable(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk, max_assignments=2)["HITId"]
    first = fake.accept(hit_id, "A1FIRST")
    assert mturk.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Assignable"
    second = fake.accept(hit_id, "A2SECOND")
    got = mturk.get_hit(HITId=hit_id)["HIT"]
    assert (got["HITStatus"], got["NumberOfAssignmentsPending"], got["NumberOfAssignmentsAvailable"]) == (
        "Unassignable",
        2,
        0,
    )
    fake.submit(first.assignment_id, {"label": "cat"})
    assert mturk.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Unassignable"
    fake.submit(second.assignment_id, {"label": "dog"})
    assert mturk.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Reviewable"
    assert [h["HITId"] for h in mturk.list_reviewable_hits()["HITs"]] == [hit_id]
    mturk.update_hit_review_status(HITId=hit_id)
    assert mturk.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Reviewing"
    assert [h["HITId"] for h in mturk.list_reviewable_hits(Status="Reviewing")["HITs"]] == [hit_id]


def test_lifetime_runs_out_on_the_fake_clock(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk, lifetime=60)["HITId"]
    fake.advance(59)
    assert mturk.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Assignable"
    fake.advance(2)
    got = mturk.get_hit(HITId=hit_id)["HIT"]
    assert (got["HITStatus"], got["NumberOfAssignmentsAvailable"]) == ("Reviewable", 0)


def test_expired_hit_with_work_in_progress_stays_unassignable_until_submitted(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk, lifetime=60, duration=600)["HITId"]
    visit = fake.accept(hit_id, "A1SLOW")
    fake.advance(120)
    assert mturk.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Unassignable"
    fake.submit(visit.assignment_id, {"answer": "late but in time"})
    assert mturk.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Reviewable"


def test_assignment_past_its_duration_is_abandoned_and_the_slot_returns(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk, duration=300)["HITId"]
    visit = fake.accept(hit_id, "A1GONE")
    assert mturk.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Unassignable"
    fake.advance(301)
    got = mturk.get_hit(HITId=hit_id)["HIT"]
    assert (got["HITStatus"], got["NumberOfAssignmentsAvailable"], got["NumberOfAssignmentsPending"]) == (
        "Assignable",
        1,
        0,
    )
    assert fake.assignment(visit.assignment_id).state.value == "Abandoned"
    assert mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"] == []
    fake.accept(hit_id, "A2NEXT")


def test_update_expiration_in_the_past_expires_and_in_the_future_revives(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk)["HITId"]
    mturk.update_expiration_for_hit(HITId=hit_id, ExpireAt=dt.datetime(2015, 1, 1))
    got = mturk.get_hit(HITId=hit_id)["HIT"]
    assert got["HITStatus"] == "Reviewable"
    assert abs(got["Expiration"].timestamp() - fake.now()) < 5
    later = dt.datetime.fromtimestamp(fake.now() + 600, tz=dt.UTC)
    mturk.update_expiration_for_hit(HITId=hit_id, ExpireAt=later)
    assert mturk.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Assignable"


def test_delete_hit_only_when_reviewable_and_reviewed(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk)["HITId"]
    with pytest.raises(ClientError) as excinfo:
        mturk.delete_hit(HITId=hit_id)
    assert "Assignable" in _error(excinfo)[2]
    visit = fake.accept(hit_id, "A1WORKER")
    mturk.update_expiration_for_hit(HITId=hit_id, ExpireAt=dt.datetime(2015, 1, 1))
    with pytest.raises(ClientError) as excinfo:
        mturk.delete_hit(HITId=hit_id)  # an assignment is still pending
    assert "Unassignable" in _error(excinfo)[2]
    fake.submit(visit.assignment_id, {"a": "b"})
    with pytest.raises(ClientError):
        mturk.delete_hit(HITId=hit_id)  # submitted but neither approved nor rejected
    mturk.approve_assignment(AssignmentId=visit.assignment_id)
    mturk.delete_hit(HITId=hit_id)
    assert mturk.list_hits()["HITs"] == []
    assert mturk.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Disposed"


def test_expired_hit_without_assignments_can_be_deleted(mturk: Any) -> None:
    hit_id = make_hit(mturk)["HITId"]
    mturk.update_expiration_for_hit(HITId=hit_id, ExpireAt=dt.datetime(2015, 1, 1))
    mturk.delete_hit(HITId=hit_id)
    with pytest.raises(ClientError):
        mturk.update_expiration_for_hit(HITId=hit_id, ExpireAt=dt.datetime(2015, 1, 1))


def test_hit_the_balance_cannot_pay_for_is_refused(fake: FakeMTurk, mturk: Any) -> None:
    fake.set_balance("1.00")
    with pytest.raises(ClientError) as excinfo:
        make_hit(mturk, reward="0.50", max_assignments=2)  # 2 x (0.50 + 0.10 fee) = 1.20
    assert _error(excinfo)[1] == "AWS.MechanicalTurk.InsufficientFunds"
    make_hit(mturk, reward="0.50", max_assignments=1)


@pytest.mark.parametrize(
    ("question", "needle"),
    [
        ("<ExternalQuestion><ExternalURL>http", "well-formed"),
        ("<Nonsense/>", "must be one of"),
        (external_question("ftp://example.org/x"), "http(s)"),
        ("<ExternalQuestion><ExternalURL>https://e.org/</ExternalURL></ExternalQuestion>", "FrameHeight"),
    ],
)
def test_bad_questions_are_refused(mturk: Any, question: str, needle: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        make_hit(mturk, question=question)
    assert needle in _error(excinfo)[2]


def test_require_https_refuses_http_external_urls() -> None:
    with FakeMTurk(require_https=True) as strict:
        client = make_client(strict)
        with pytest.raises(ClientError) as excinfo:
            make_hit(client, question=external_question("http://127.0.0.1:8000/"))
        assert "https" in _error(excinfo)[2]
        make_hit(client, question=external_question("https://127.0.0.1:8000/"))


def test_out_of_range_durations_are_refused(mturk: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        mturk.create_hit_type(AssignmentDurationInSeconds=5, Reward="0.10", Title="T", Description="D")
    assert "AssignmentDurationInSeconds" in _error(excinfo)[2]
    with pytest.raises(ClientError):
        mturk.create_hit_type(AssignmentDurationInSeconds=60, Reward="0.00", Title="T", Description="D")


def test_additional_assignments_reopen_a_full_hit_once_per_token(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk, max_assignments=2)["HITId"]
    fake.accept(hit_id, "A1FIRST")
    fake.accept(hit_id, "A2SECOND")
    assert fake.hit_status(hit_id) == "Unassignable"
    mturk.create_additional_assignments_for_hit(
        HITId=hit_id, NumberOfAdditionalAssignments=3, UniqueRequestToken="more"
    )
    with pytest.raises(ClientError, match="already been processed"):
        mturk.create_additional_assignments_for_hit(
            HITId=hit_id, NumberOfAdditionalAssignments=3, UniqueRequestToken="more"
        )
    got = mturk.get_hit(HITId=hit_id)["HIT"]
    assert (got["MaxAssignments"], got["NumberOfAssignmentsAvailable"], got["HITStatus"]) == (5, 3, "Assignable")
    with pytest.raises(ClientError, match="10 or more"):
        mturk.create_additional_assignments_for_hit(HITId=hit_id, NumberOfAdditionalAssignments=5)
