"""The worker's side (accept, externalSubmit, return) and the requester's review and money."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from typing import Any

import mturk_fake_fixtures as fx
import pytest
from botocore.exceptions import ClientError
from mephisto_provider_mturk.testing import FakeMTurk, WorkerActionRefused
from mturk_fake_fixtures import TASK_URL, make_hit

fake, mturk = fx.fake, fx.mturk  # the shared fixtures, under their own names


def _post_form(url: str, fields: list[tuple[str, str]]) -> tuple[int, str]:
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _submitted(fake: FakeMTurk, mturk: Any, **hit_args: Any) -> tuple[str, str]:
    hit_id = make_hit(mturk, **hit_args)["HITId"]
    visit = fake.accept(hit_id, "A1WORKER")
    fake.submit(visit.assignment_id, {"label": "cat"})
    return hit_id, visit.assignment_id


def test_accept_gives_the_external_url_with_mturk_parameters(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk)["HITId"]
    visit = fake.accept(hit_id, "A1WORKER")
    parts = urllib.parse.urlsplit(visit.url or "")
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert visit.url is not None and visit.url.startswith(TASK_URL + "&")
    assert query == {
        "lang": "en",
        "assignmentId": visit.assignment_id,
        "hitId": hit_id,
        "workerId": "A1WORKER",
        "turkSubmitTo": fake.endpoint_url,
    }


def test_preview_url_has_no_assignment(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk)["HITId"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(fake.preview_url(hit_id)).query))
    assert query == {"lang": "en", "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": hit_id}


def test_form_post_to_external_submit_stores_question_form_answers(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk)["HITId"]
    visit = fake.accept(hit_id, "A1WORKER")
    fields = [("assignmentId", visit.assignment_id), ("label", "a <cat> & a dog"), ("note", "é")]
    status, page = _post_form(fake.submit_url, fields)
    assert status == 200 and "submitted" in page
    (assignment,) = mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert assignment["AssignmentStatus"] == "Submitted"
    assert assignment["WorkerId"] == "A1WORKER"
    assert assignment["Answer"].startswith('<?xml version="1.0" encoding="ASCII"?><QuestionFormAnswers')
    assert (
        "<QuestionIdentifier>label</QuestionIdentifier><FreeText>a &lt;cat&gt; &amp; a dog</FreeText>"
        in (assignment["Answer"])
    )
    assert fake.answers(visit.assignment_id) == [("label", "a <cat> & a dog"), ("note", "é")]
    assert assignment["AutoApprovalTime"] - assignment["SubmitTime"] == dt.timedelta(days=3)


def test_external_submit_by_get_as_mturk_allows(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk)["HITId"]
    visit = fake.accept(hit_id, "A1WORKER")
    query = urllib.parse.urlencode({"assignmentId": visit.assignment_id, "answer": "42"})
    with urllib.request.urlopen(f"{fake.submit_url}?{query}", timeout=5) as answer:
        assert answer.status == 200
    assert fake.answers(visit.assignment_id) == [("answer", "42")]


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ([("label", "x")], "no assignmentId"),
        ([("assignmentId", "ASSIGNMENT_ID_NOT_AVAILABLE")], "no assignmentId"),
        ([("assignmentId", "3UNKNOWNASSIGNMENT000000000000")], "does not exist"),
    ],
)
def test_external_submit_refuses_unknown_assignments(
    fake: FakeMTurk, fields: list[tuple[str, str]], needle: str
) -> None:
    status, page = _post_form(fake.submit_url, fields)
    assert status == 400 and needle in page


def test_submitting_twice_or_late_is_refused(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk, duration=60, max_assignments=2)["HITId"]
    first = fake.accept(hit_id, "A1FIRST")
    _post_form(fake.submit_url, [("assignmentId", first.assignment_id), ("a", "1")])
    status, page = _post_form(fake.submit_url, [("assignmentId", first.assignment_id), ("a", "2")])
    assert status == 400 and "Submitted" in page
    late = fake.accept(hit_id, "A2LATE")
    fake.advance(61)
    status, page = _post_form(fake.submit_url, [("assignmentId", late.assignment_id), ("a", "3")])
    assert status == 400 and "Abandoned" in page
    assert fake.answers(first.assignment_id) == [("a", "1")]


def test_externalsubmit_needs_a_form_body(fake: FakeMTurk) -> None:
    request = urllib.request.Request(
        fake.submit_url, data=b'{"assignmentId": "x"}', headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=5)
    assert excinfo.value.code == 400


def test_return_gives_the_slot_back_and_the_worker_may_accept_again(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk)["HITId"]
    visit = fake.accept(hit_id, "A1WORKER")
    with pytest.raises(WorkerActionRefused, match="Unassignable"):
        fake.accept(hit_id, "A2OTHER")
    fake.return_assignment(visit.assignment_id)
    assert mturk.get_hit(HITId=hit_id)["HIT"]["NumberOfAssignmentsAvailable"] == 1
    again = fake.accept(hit_id, "A1WORKER")
    fake.abandon(again.assignment_id)
    assert fake.assignment(again.assignment_id).state.value == "Abandoned"
    with pytest.raises(WorkerActionRefused, match="no longer accepted"):
        fake.submit(again.assignment_id, {"a": "b"})


def test_one_assignment_per_worker_per_hit(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk, max_assignments=3)["HITId"]
    fake.accept(hit_id, "A1WORKER")
    with pytest.raises(WorkerActionRefused, match="already has an assignment"):
        fake.accept(hit_id, "A1WORKER")


def test_accepted_assignment_is_not_visible_to_the_requester_until_submitted(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk)["HITId"]
    visit = fake.accept(hit_id, "A1WORKER")
    assert mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"] == []
    with pytest.raises(ClientError):
        mturk.get_assignment(AssignmentId=visit.assignment_id)


def test_approve_pays_reward_and_fee(fake: FakeMTurk, mturk: Any) -> None:
    hit_id, assignment_id = _submitted(fake, mturk, reward="1.00")
    mturk.approve_assignment(AssignmentId=assignment_id, RequesterFeedback="Thanks")
    got = mturk.get_assignment(AssignmentId=assignment_id)
    assert got["Assignment"]["AssignmentStatus"] == "Approved"
    assert got["Assignment"]["RequesterFeedback"] == "Thanks"
    assert got["HIT"]["HITId"] == hit_id and got["HIT"]["NumberOfAssignmentsCompleted"] == 1
    assert mturk.get_account_balance()["AvailableBalance"] == "9998.80"
    with pytest.raises(ClientError) as excinfo:
        mturk.approve_assignment(AssignmentId=assignment_id)
    assert excinfo.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidAssignmentState"


def test_ten_or_more_assignments_cost_a_40_percent_fee(fake: FakeMTurk, mturk: Any) -> None:
    _, assignment_id = _submitted(fake, mturk, reward="1.00", max_assignments=10)
    mturk.approve_assignment(AssignmentId=assignment_id)
    assert fake.balance() == Decimal("9998.60")


def test_reject_needs_feedback_and_can_be_overridden(fake: FakeMTurk, mturk: Any) -> None:
    _, assignment_id = _submitted(fake, mturk)
    mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="Empty answer")
    got = mturk.get_assignment(AssignmentId=assignment_id)["Assignment"]
    assert (got["AssignmentStatus"], got["RequesterFeedback"]) == ("Rejected", "Empty answer")
    assert "RejectionTime" in got
    with pytest.raises(ClientError):
        mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="again")
    with pytest.raises(ClientError):
        mturk.approve_assignment(AssignmentId=assignment_id)  # no OverrideRejection
    mturk.approve_assignment(AssignmentId=assignment_id, OverrideRejection=True)
    got = mturk.get_assignment(AssignmentId=assignment_id)["Assignment"]
    assert got["AssignmentStatus"] == "Approved" and "RejectionTime" not in got


def test_override_rejection_is_refused_after_30_days(fake: FakeMTurk, mturk: Any) -> None:
    _, assignment_id = _submitted(fake, mturk)
    mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="no")
    fake.advance(31 * 24 * 3600)
    with pytest.raises(ClientError):
        mturk.approve_assignment(AssignmentId=assignment_id, OverrideRejection=True)


def test_auto_approval_after_the_delay_pays(fake: FakeMTurk, mturk: Any) -> None:
    _, assignment_id = _submitted(fake, mturk, auto_approval=3600, reward="0.50")
    fake.advance(3599)
    assert mturk.get_assignment(AssignmentId=assignment_id)["Assignment"]["AssignmentStatus"] == "Submitted"
    fake.advance(2)
    got = mturk.get_assignment(AssignmentId=assignment_id)["Assignment"]
    assert got["AssignmentStatus"] == "Approved"
    assert got["ApprovalTime"] == got["AutoApprovalTime"]
    assert mturk.get_account_balance()["AvailableBalance"] == "9999.40"


def test_list_assignments_filters_by_status_and_paginates(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk, max_assignments=5)["HITId"]
    ids = []
    for number in range(5):
        visit = fake.accept(hit_id, f"A{number}WORKER")
        fake.submit(visit.assignment_id, {"n": str(number)})
        ids.append(visit.assignment_id)
    mturk.approve_assignment(AssignmentId=ids[0])
    mturk.reject_assignment(AssignmentId=ids[1], RequesterFeedback="no")

    def statuses(*wanted: str) -> list[str]:
        return [
            a["AssignmentId"]
            for a in mturk.list_assignments_for_hit(HITId=hit_id, AssignmentStatuses=list(wanted))["Assignments"]
        ]

    assert statuses("Submitted") == ids[2:]
    assert statuses("Approved", "Rejected") == ids[:2]
    first = mturk.list_assignments_for_hit(HITId=hit_id, MaxResults=2)
    second = mturk.list_assignments_for_hit(HITId=hit_id, MaxResults=2, NextToken=first["NextToken"])
    assert [a["AssignmentId"] for a in first["Assignments"] + second["Assignments"]] == ids[:4]


def test_bonus_is_paid_with_a_20_percent_fee_and_listed(fake: FakeMTurk, mturk: Any) -> None:
    hit_id, assignment_id = _submitted(fake, mturk)
    mturk.send_bonus(
        WorkerId="A1WORKER",
        BonusAmount="2.00",
        AssignmentId=assignment_id,
        Reason="Great work",
        UniqueRequestToken="b1",
    )
    assert fake.balance() == Decimal("9997.60")
    (bonus,) = mturk.list_bonus_payments(HITId=hit_id)["BonusPayments"]
    assert (bonus["WorkerId"], bonus["BonusAmount"], bonus["Reason"]) == ("A1WORKER", "2.00", "Great work")
    assert mturk.list_bonus_payments(AssignmentId=assignment_id)["BonusPayments"] == [bonus]


def test_bonus_token_repeat_is_refused_and_pays_once(fake: FakeMTurk, mturk: Any) -> None:
    _, assignment_id = _submitted(fake, mturk)
    args = dict(WorkerId="A1WORKER", BonusAmount="1.00", AssignmentId=assignment_id, Reason="r", UniqueRequestToken="t")
    mturk.send_bonus(**args)
    with pytest.raises(ClientError) as excinfo:
        mturk.send_bonus(**args)
    assert '"t" has already been processed' in excinfo.value.response["Error"]["Message"]
    assert fake.balance() == Decimal("9998.80")
    assert len(fake.snapshot().bonuses) == 1


def test_bonus_after_lost_answer_and_retry_pays_once(fake: FakeMTurk) -> None:
    client = fx.make_client(fake, retries=2)
    _, assignment_id = _submitted(fake, client)
    fake.fail_next("SendBonus", kind="drop_after")
    with pytest.raises(ClientError):
        client.send_bonus(
            WorkerId="A1WORKER", BonusAmount="1.00", AssignmentId=assignment_id, Reason="r", UniqueRequestToken="once"
        )
    assert len(fake.snapshot().bonuses) == 1


def test_bonus_errors(fake: FakeMTurk, mturk: Any) -> None:
    _, assignment_id = _submitted(fake, mturk)
    with pytest.raises(ClientError, match="did not work on"):
        mturk.send_bonus(WorkerId="A9SOMEONEELSE", BonusAmount="1.00", AssignmentId=assignment_id, Reason="r")
    fake.set_balance("1.00")
    with pytest.raises(ClientError) as excinfo:
        mturk.send_bonus(WorkerId="A1WORKER", BonusAmount="1.00", AssignmentId=assignment_id, Reason="r")
    assert excinfo.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InsufficientFunds"
    assert fake.balance() == Decimal("1.00")
    with pytest.raises(ClientError, match="HITId or the AssignmentId"):
        mturk.list_bonus_payments()
    with pytest.raises(ClientError, match="regular expression"):
        mturk.send_bonus(WorkerId="A1WORKER", BonusAmount="$1", AssignmentId=assignment_id, Reason="r")


def test_approval_the_balance_cannot_pay_is_refused(fake: FakeMTurk, mturk: Any) -> None:
    _, assignment_id = _submitted(fake, mturk, reward="1.00")
    fake.set_balance("1.10")
    with pytest.raises(ClientError) as excinfo:
        mturk.approve_assignment(AssignmentId=assignment_id)
    assert excinfo.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InsufficientFunds"
    assert mturk.get_assignment(AssignmentId=assignment_id)["Assignment"]["AssignmentStatus"] == "Submitted"


def test_worker_ids_must_look_like_mturk_ids(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk)["HITId"]
    with pytest.raises(ValueError, match="not an MTurk worker id"):
        fake.accept(hit_id, "worker-1")


HTML_QUESTION = (
    '<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd">'
    "<HTMLContent><![CDATA[<!DOCTYPE html><html><body><p id='q'>Is this a cat?</p></body></html>]]></HTMLContent>"
    "<FrameHeight>450</FrameHeight></HTMLQuestion>"
)


def test_html_question_is_served_by_the_fake_with_mturk_parameters(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk, question=HTML_QUESTION)["HITId"]
    preview = fake.preview_url(hit_id)
    assert preview.startswith(
        f"{fake.endpoint_url}/mturk/htmlquestion/{hit_id}?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE"
    )
    visit = fake.accept(hit_id, "A1WORKER")
    assert visit.url is not None and f"turkSubmitTo={urllib.parse.quote(fake.endpoint_url, safe='')}" in visit.url
    with urllib.request.urlopen(visit.url, timeout=5) as answer:
        assert b"Is this a cat?" in answer.read()
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{fake.endpoint_url}/mturk/htmlquestion/3NOSUCHHIT", timeout=5)
