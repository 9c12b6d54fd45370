"""Qualification types, scores, requirements enforced at accept, blocks and notifications."""

from __future__ import annotations

from typing import Any

import mturk_fake_fixtures as fx
import pytest
from botocore.exceptions import ClientError
from mephisto_provider_mturk.testing import (
    LOCALE_QUALIFICATION,
    PERCENT_APPROVED_QUALIFICATION,
    FakeMTurk,
    WorkerActionRefused,
)
from mturk_fake_fixtures import make_client, make_hit

fake, mturk = fx.fake, fx.mturk  # the shared fixtures, under their own names


def _qualification(mturk: Any, name: str = "onboarded", **extra: Any) -> str:
    created = mturk.create_qualification_type(
        Name=name, Description=f"{name} workers", QualificationTypeStatus="Active", **extra
    )
    return created["QualificationType"]["QualificationTypeId"]  # type: ignore[no-any-return]


def test_create_get_and_delete_a_qualification_type(fake: FakeMTurk, mturk: Any) -> None:
    type_id = _qualification(mturk, Keywords="mephisto")
    got = mturk.get_qualification_type(QualificationTypeId=type_id)["QualificationType"]
    assert (got["Name"], got["Keywords"], got["QualificationTypeStatus"], got["IsRequestable"]) == (
        "onboarded",
        "mephisto",
        "Active",
        True,
    )
    mturk.delete_qualification_type(QualificationTypeId=type_id)
    with pytest.raises(ClientError):
        mturk.get_qualification_type(QualificationTypeId=type_id)
    assert fake.snapshot().qualification_types[type_id].deleted


def test_qualification_names_are_unique_per_requester_and_reserved_after_delete(fake: FakeMTurk, mturk: Any) -> None:
    type_id = _qualification(mturk)
    with pytest.raises(ClientError) as excinfo:
        _qualification(mturk)
    assert excinfo.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.QualificationTypeAlreadyExists"
    mturk.delete_qualification_type(QualificationTypeId=type_id)
    with pytest.raises(ClientError):
        _qualification(mturk)  # the name stays taken for a while after deletion
    fake.advance(48 * 3600)
    assert _qualification(mturk) != type_id
    fake.add_account("AKIAOTHERACCOUNT0000", "other")
    other = make_client(fake, aws_access_key_id="AKIAOTHERACCOUNT0000", aws_secret_access_key="other")
    _qualification(other)  # another requester may use the same name


def test_list_qualification_types_filters_and_paginates(fake: FakeMTurk, mturk: Any) -> None:
    mine = [_qualification(mturk, f"mephisto-q{n}") for n in range(5)]
    fake.add_account("AKIAOTHERACCOUNT0000", "other")
    other = make_client(fake, aws_access_key_id="AKIAOTHERACCOUNT0000", aws_secret_access_key="other")
    theirs = _qualification(other, "mephisto-theirs")

    def ids(**kwargs: Any) -> list[str]:
        pages = mturk.get_paginator("list_qualification_types").paginate(PaginationConfig={"PageSize": 2}, **kwargs)
        return [q["QualificationTypeId"] for page in pages for q in page["QualificationTypes"]]

    assert ids(MustBeRequestable=True, MustBeOwnedByCaller=True) == mine
    assert ids(MustBeRequestable=True, MustBeOwnedByCaller=False, Query="MEPHISTO") == [*mine, theirs]
    assert ids(MustBeRequestable=True, MustBeOwnedByCaller=True, Query="q3") == [mine[3]]
    system = ids(MustBeRequestable=False, MustBeOwnedByCaller=False, Query="Locale")
    assert system == [LOCALE_QUALIFICATION]
    assert ids(MustBeRequestable=True, Query="Locale") == []


def test_grant_score_revoke_and_list_workers(fake: FakeMTurk, mturk: Any) -> None:
    type_id = _qualification(mturk)
    mturk.associate_qualification_with_worker(
        QualificationTypeId=type_id, WorkerId="A1WORKER", IntegerValue=7, SendNotification=False
    )
    mturk.associate_qualification_with_worker(QualificationTypeId=type_id, WorkerId="A2WORKER")
    # Only the grant that did not say SendNotification=False e-mailed its worker.
    assert [n.worker_id for n in fake.snapshot().notifications] == ["A2WORKER"]
    score = mturk.get_qualification_score(QualificationTypeId=type_id, WorkerId="A1WORKER")["Qualification"]
    assert (score["IntegerValue"], score["Status"]) == (7, "Granted")
    listed = mturk.list_workers_with_qualification_type(QualificationTypeId=type_id)["Qualifications"]
    assert [(q["WorkerId"], q["IntegerValue"]) for q in listed] == [("A1WORKER", 7), ("A2WORKER", 1)]
    mturk.disassociate_qualification_from_worker(QualificationTypeId=type_id, WorkerId="A1WORKER", Reason="retest")
    revoked = mturk.list_workers_with_qualification_type(QualificationTypeId=type_id, Status="Revoked")
    assert [q["WorkerId"] for q in revoked["Qualifications"]] == ["A1WORKER"]
    granted = mturk.list_workers_with_qualification_type(QualificationTypeId=type_id, Status="Granted")
    assert [q["WorkerId"] for q in granted["Qualifications"]] == ["A2WORKER"]
    with pytest.raises(ClientError):
        mturk.disassociate_qualification_from_worker(QualificationTypeId=type_id, WorkerId="A1WORKER")
    with pytest.raises(ClientError):
        mturk.get_qualification_score(QualificationTypeId=type_id, WorkerId="A3NEVERGRANTED")


def test_only_the_owner_may_grant_its_qualification(fake: FakeMTurk, mturk: Any) -> None:
    type_id = _qualification(mturk)
    fake.add_account("AKIAOTHERACCOUNT0000", "other")
    other = make_client(fake, aws_access_key_id="AKIAOTHERACCOUNT0000", aws_secret_access_key="other")
    with pytest.raises(ClientError, match="not owned by you"):
        other.associate_qualification_with_worker(QualificationTypeId=type_id, WorkerId="A1WORKER")


@pytest.mark.parametrize(
    ("comparator", "values", "score", "allowed"),
    [
        ("Exists", None, 0, True),
        ("Exists", None, None, False),
        ("DoesNotExist", None, None, True),
        ("DoesNotExist", None, 1, False),
        ("EqualTo", [1], 1, True),
        ("EqualTo", [1], 2, False),
        ("NotEqualTo", [0], 1, True),
        ("NotEqualTo", [0], None, False),
        ("GreaterThanOrEqualTo", [80], 80, True),
        ("GreaterThan", [80], 80, False),
        ("LessThan", [3], 2, True),
        ("LessThanOrEqualTo", [3], 4, False),
        ("In", [1, 2, 3], 2, True),
        ("In", [1, 2, 3], 4, False),
        ("NotIn", [1, 2], 3, True),
        ("NotIn", [1, 2], 1, False),
    ],
)
def test_integer_requirements_are_enforced_at_accept(
    fake: FakeMTurk, mturk: Any, comparator: str, values: list[int] | None, score: int | None, allowed: bool
) -> None:
    type_id = _qualification(mturk)
    if score is not None:
        mturk.associate_qualification_with_worker(QualificationTypeId=type_id, WorkerId="A1WORKER", IntegerValue=score)
    requirement: dict[str, Any] = {"QualificationTypeId": type_id, "Comparator": comparator}
    if values is not None:
        requirement["IntegerValues"] = values
    hit_id = make_hit(mturk, requirements=[requirement])["HITId"]
    if allowed:
        fake.accept(hit_id, "A1WORKER")
    else:
        with pytest.raises(WorkerActionRefused, match=type_id):
            fake.accept(hit_id, "A1WORKER")


def test_revoked_qualification_no_longer_counts(fake: FakeMTurk, mturk: Any) -> None:
    type_id = _qualification(mturk)
    mturk.associate_qualification_with_worker(QualificationTypeId=type_id, WorkerId="A1WORKER")
    mturk.disassociate_qualification_from_worker(QualificationTypeId=type_id, WorkerId="A1WORKER")
    hit_id = make_hit(mturk, requirements=[{"QualificationTypeId": type_id, "Comparator": "Exists"}])["HITId"]
    with pytest.raises(WorkerActionRefused):
        fake.accept(hit_id, "A1WORKER")


def test_locale_requirements(fake: FakeMTurk, mturk: Any) -> None:
    english = [{"Country": c} for c in ("US", "CA", "GB", "AU", "NZ")]
    requirement = {"QualificationTypeId": LOCALE_QUALIFICATION, "Comparator": "In", "LocaleValues": english}
    hit_id = make_hit(mturk, max_assignments=3, requirements=[requirement])["HITId"]
    fake.set_worker("A1CANADA", locale="CA")
    fake.set_worker("A2FRANCE", locale="FR")
    fake.accept(hit_id, "A1CANADA")
    with pytest.raises(WorkerActionRefused):
        fake.accept(hit_id, "A2FRANCE")
    fake.accept(hit_id, "A3DEFAULTUS")  # workers are in the US unless set otherwise

    washington = {
        "QualificationTypeId": LOCALE_QUALIFICATION,
        "Comparator": "EqualTo",
        "LocaleValues": [{"Country": "US", "Subdivision": "WA"}],
    }
    state_hit = make_hit(mturk, max_assignments=2, requirements=[washington])["HITId"]
    fake.set_worker("A4SEATTLE", locale={"Country": "US", "Subdivision": "WA"})
    fake.accept(state_hit, "A4SEATTLE")
    with pytest.raises(WorkerActionRefused):
        fake.accept(state_hit, "A3DEFAULTUS")


def test_system_approval_rate_requirement(fake: FakeMTurk, mturk: Any) -> None:
    requirement = {
        "QualificationTypeId": PERCENT_APPROVED_QUALIFICATION,
        "Comparator": "GreaterThanOrEqualTo",
        "IntegerValues": [95],
    }
    hit_id = make_hit(mturk, max_assignments=2, requirements=[requirement])["HITId"]
    fake.set_worker("A1SLOPPY", approval_rate=90)
    with pytest.raises(WorkerActionRefused):
        fake.accept(hit_id, "A1SLOPPY")
    fake.accept(hit_id, "A2CAREFUL")


@pytest.mark.parametrize(
    ("requirement", "needle"),
    [
        ({"QualificationTypeId": "3NOSUCHTYPE", "Comparator": "Exists"}, "does not exist"),
        (
            {
                "QualificationTypeId": LOCALE_QUALIFICATION,
                "Comparator": "GreaterThan",
                "LocaleValues": [{"Country": "US"}],
            },
            "cannot compare locales",
        ),
        (
            {"QualificationTypeId": LOCALE_QUALIFICATION, "Comparator": "EqualTo", "IntegerValues": [1]},
            "LocaleValues only",
        ),
        (
            {"QualificationTypeId": PERCENT_APPROVED_QUALIFICATION, "Comparator": "Exists", "IntegerValues": [1]},
            "takes no",
        ),
        (
            {"QualificationTypeId": PERCENT_APPROVED_QUALIFICATION, "Comparator": "EqualTo", "IntegerValues": [1, 2]},
            "at most 1",
        ),
        ({"QualificationTypeId": PERCENT_APPROVED_QUALIFICATION, "Comparator": "EqualTo"}, "IntegerValues only"),
    ],
)
def test_malformed_requirements_are_refused(mturk: Any, requirement: dict[str, Any], needle: str) -> None:
    with pytest.raises(ClientError, match=needle):
        make_hit(mturk, requirements=[requirement])


def test_blocked_worker_cannot_accept_until_unblocked(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk)["HITId"]
    mturk.create_worker_block(WorkerId="A1SPAMMER", Reason="copy-pasted answers")
    assert mturk.list_worker_blocks()["WorkerBlocks"] == [{"WorkerId": "A1SPAMMER", "Reason": "copy-pasted answers"}]
    assert fake.is_blocked("A1SPAMMER")
    with pytest.raises(WorkerActionRefused, match="blocked"):
        fake.accept(hit_id, "A1SPAMMER")
    mturk.delete_worker_block(WorkerId="A1SPAMMER", Reason="appeal accepted")
    mturk.delete_worker_block(WorkerId="A1SPAMMER")  # unblocking again still succeeds
    assert mturk.list_worker_blocks()["WorkerBlocks"] == []
    fake.accept(hit_id, "A1SPAMMER")


def test_blocks_belong_to_one_requester_and_paginate(fake: FakeMTurk, mturk: Any) -> None:
    for number in range(5):
        mturk.create_worker_block(WorkerId=f"A{number}BLOCKED", Reason="r")
    pages = mturk.get_paginator("list_worker_blocks").paginate(PaginationConfig={"PageSize": 2})
    assert [b["WorkerId"] for page in pages for b in page["WorkerBlocks"]] == [f"A{n}BLOCKED" for n in range(5)]
    fake.add_account("AKIAOTHERACCOUNT0000", "other")
    other = make_client(fake, aws_access_key_id="AKIAOTHERACCOUNT0000", aws_secret_access_key="other")
    assert other.list_worker_blocks()["WorkerBlocks"] == []


def test_notify_workers_reaches_only_workers_whose_work_was_reviewed(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk)["HITId"]
    visit = fake.accept(hit_id, "A1REVIEWED")
    fake.submit(visit.assignment_id, {"a": "b"})
    mturk.approve_assignment(AssignmentId=visit.assignment_id)
    answer = mturk.notify_workers(
        Subject="New batch", MessageText="More tasks are up.", WorkerIds=["A1REVIEWED", "A2STRANGER"]
    )
    failures = answer["NotifyWorkersFailureStatuses"]
    assert [(f["WorkerId"], f["NotifyWorkersFailureCode"]) for f in failures] == [("A2STRANGER", "HardFailure")]
    (sent,) = fake.snapshot().notifications
    assert (sent.worker_id, sent.subject) == ("A1REVIEWED", "New batch")
    with pytest.raises(ClientError, match="at most 100"):
        mturk.notify_workers(Subject="s", MessageText="m", WorkerIds=[f"A{n}X" for n in range(101)])


def test_update_qualification_type_and_list_its_hits(fake: FakeMTurk, mturk: Any) -> None:
    type_id = _qualification(mturk)
    gated = make_hit(mturk, requirements=[{"QualificationTypeId": type_id, "Comparator": "Exists"}])["HITId"]
    make_hit(mturk)  # not gated by it
    listed = mturk.list_hits_for_qualification_type(QualificationTypeId=type_id)["HITs"]
    assert [h["HITId"] for h in listed] == [gated]
    updated = mturk.update_qualification_type(
        QualificationTypeId=type_id, Description="retired", QualificationTypeStatus="Inactive"
    )["QualificationType"]
    assert (updated["Description"], updated["QualificationTypeStatus"]) == ("retired", "Inactive")
    with pytest.raises(ClientError, match="not Active"):
        make_hit(mturk, requirements=[{"QualificationTypeId": type_id, "Comparator": "Exists"}])
