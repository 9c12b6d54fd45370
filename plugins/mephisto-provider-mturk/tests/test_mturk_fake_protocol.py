"""The wire protocol: AWS JSON 1.1, SigV4 checks, errors botocore parses, the service model, retries."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import mturk_fake_fixtures as fx
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError
from botocore.loaders import Loader
from mephisto_provider_mturk.testing import FakeMTurk, implemented_operations
from mturk_fake_fixtures import make_client, make_hit, raw_call

fake, mturk = fx.fake, fx.mturk  # the shared fixtures, under their own names

SERVICE = Loader().load_service_model("mturk", "service-2")
NEEDED = {
    "GetAccountBalance", "CreateQualificationType", "ListQualificationTypes", "GetQualificationType",
    "DeleteQualificationType", "AssociateQualificationWithWorker", "DisassociateQualificationFromWorker",
    "ListWorkersWithQualificationType", "GetQualificationScore", "CreateHITType", "CreateHITWithHITType",
    "CreateHIT", "GetHIT", "ListHITs", "ListReviewableHITs", "UpdateExpirationForHIT", "DeleteHIT",
    "ListAssignmentsForHIT", "GetAssignment", "ApproveAssignment", "RejectAssignment", "SendBonus",
    "ListBonusPayments", "CreateWorkerBlock", "DeleteWorkerBlock", "ListWorkerBlocks", "NotifyWorkers",
}  # fmt: skip


def test_every_needed_operation_is_implemented_and_exists_in_the_service_model() -> None:
    implemented = set(implemented_operations())
    assert implemented >= NEEDED
    assert implemented <= set(SERVICE["operations"])


def _sample(shape_name: str) -> Any:
    """A value the shape accepts (required members only), to leave one member out at a time."""
    shape = SERVICE["shapes"][shape_name]
    kind = shape["type"]
    if kind == "structure":
        return {name: _sample(shape["members"][name]["shape"]) for name in shape.get("required", [])}
    if kind == "list":
        return [_sample(shape["member"]["shape"])]
    if kind == "string":
        if "enum" in shape:
            return shape["enum"][0]
        return {"CustomerId": "A1WORKER", "CurrencyAmount": "1.00"}.get(shape_name, "3ABC")
    if kind in ("integer", "long"):
        return shape.get("min", 1)
    return {"boolean": True, "timestamp": 0}[kind]


@pytest.mark.parametrize("operation", sorted(NEEDED))
def test_every_required_member_is_enforced_by_the_server(fake: FakeMTurk, operation: str) -> None:
    input_shape = SERVICE["operations"][operation]["input"]["shape"]
    complete = _sample(input_shape)
    for missing in SERVICE["shapes"][input_shape].get("required", []):
        params = {name: value for name, value in complete.items() if name != missing}
        status, body = raw_call(fake, operation, params)
        assert (status, body["__type"]) == (400, "RequestError"), (operation, missing)
        assert body["TurkErrorCode"] == "AWS.MissingParameters"
        assert f".{missing}'" in body["Message"]
    assert fake.snapshot().hits == {}  # nothing was created on the way


def test_types_enums_and_patterns_are_checked_against_the_model(fake: FakeMTurk) -> None:
    status, body = raw_call(fake, "GetHIT", {"HITId": "lower-case-is-not-an-id"})
    assert (status, body["TurkErrorCode"]) == (400, "AWS.ParameterOutOfRange")
    assert "HITId" in body["Message"] and "pattern" in body["Message"]
    status, body = raw_call(fake, "ListReviewableHITs", {"Status": "Sleeping"})
    assert status == 400 and "enum" in body["Message"]
    status, body = raw_call(fake, "ListHITs", {"MaxResults": "ten"})
    assert status == 400 and "integer" in body["Message"]
    status, body = raw_call(fake, "ListHITs", {"MaxResults": 101})
    assert status == 400 and "less than or equal to 100" in body["Message"]
    status, body = raw_call(fake, "ListHITs", {"Colour": "blue"})
    assert status == 400 and "Colour" in body["Message"]


def test_unsigned_request_is_refused(fake: FakeMTurk) -> None:
    status, body = raw_call(fake, "GetAccountBalance", {}, sign=False)
    assert (status, body["__type"]) == (400, "MissingAuthenticationTokenException")


def test_unknown_access_key_is_refused_as_aws_does(fake: FakeMTurk) -> None:
    client = make_client(fake, aws_access_key_id="AKIANOBODY0000000000", aws_secret_access_key="x")
    with pytest.raises(ClientError) as excinfo:
        client.get_account_balance()
    assert excinfo.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert fake.requests()[-1].error == "UnrecognizedClientException"


def test_wrong_secret_fails_the_signature_check(fake: FakeMTurk) -> None:
    client = make_client(fake, aws_secret_access_key="not-the-secret")
    with pytest.raises(ClientError) as excinfo:
        client.get_account_balance()
    assert excinfo.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_tampered_body_fails_the_signature_check(fake: FakeMTurk) -> None:
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from mephisto_provider_mturk.testing import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY

    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "MTurkRequesterServiceV20170117.ListHITs"}
    request = AWSRequest(method="POST", url=fake.endpoint_url + "/", data=b"{}", headers=headers)
    SigV4Auth(Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY), "mturk-requester", "us-east-1").add_auth(
        request
    )
    sent = urllib.request.Request(
        request.url, data=b'{"MaxResults": 5}', headers=dict(request.headers.items()), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(sent, timeout=5)
    assert b"InvalidSignatureException" in excinfo.value.read()


def test_accounts_have_their_own_balances(fake: FakeMTurk) -> None:
    fake.add_account("AKIASECONDACCOUNT000", "second-secret", "25.00")
    second = make_client(fake, aws_access_key_id="AKIASECONDACCOUNT000", aws_secret_access_key="second-secret")
    assert second.get_account_balance()["AvailableBalance"] == "25.00"
    assert make_client(fake).get_account_balance()["AvailableBalance"] == "10000.00"


def test_unknown_operation_and_bad_json(fake: FakeMTurk) -> None:
    status, body = raw_call(fake, "LaunchRockets", {})
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = raw_call(fake, "ListHITs", b"{not json")
    assert (status, body["__type"]) == (400, "SerializationException")


def test_unimplemented_operation_says_so(fake: FakeMTurk) -> None:
    status, body = raw_call(fake, "GetFileUploadURL", {"AssignmentId": "3X", "QuestionIdentifier": "q"})
    assert status == 400 and "does not implement GetFileUploadURL" in body["message"]


def test_errors_reach_botocore_as_modeled_exceptions(mturk: Any) -> None:
    with pytest.raises(mturk.exceptions.RequestError) as excinfo:
        mturk.get_assignment(AssignmentId="3NOSUCHASSIGNMENT00000000000000")
    response = excinfo.value.response
    assert response["Error"]["Code"] == "RequestError"
    assert response["TurkErrorCode"] == "AWS.MechanicalTurk.AssignmentDoesNotExist"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_timestamps_are_epoch_seconds_parsed_by_botocore(fake: FakeMTurk, mturk: Any) -> None:
    created = mturk.get_hit(HITId=make_hit(mturk)["HITId"])["HIT"]["CreationTime"]
    assert isinstance(created, dt.datetime)
    assert abs(created.timestamp() - fake.now()) < 5


def test_request_log_has_operation_params_and_caller(fake: FakeMTurk, mturk: Any) -> None:
    make_hit(mturk, token="logged")
    record = fake.requests("CreateHITWithHITType")[0]
    assert record.params["UniqueRequestToken"] == "logged"
    assert record.params["LifetimeInSeconds"] == 3600
    assert record.access_key_id == fake.client_kwargs()["aws_access_key_id"]
    assert record.error is None


@pytest.mark.parametrize(("kind", "code"), [("throttle", "ThrottlingException"), ("service", "ServiceFault")])
def test_injected_failures_surface_without_retries(fake: FakeMTurk, kind: str, code: str) -> None:
    mturk = make_client(fake, mode="standard")
    fake.fail_next("GetAccountBalance", kind=kind)
    with pytest.raises(ClientError) as excinfo:
        mturk.get_account_balance()
    assert excinfo.value.response["Error"]["Code"] == code
    assert mturk.get_account_balance()["AvailableBalance"] == "10000.00"


@pytest.mark.parametrize("kind", ["throttle", "service", "drop"])
def test_adaptive_retry_rides_out_injected_failures(fake: FakeMTurk, kind: str) -> None:
    client = make_client(fake, retries=4)
    # One failure keeps botocore's randomised back-off short; the provider's own tests go further.
    fake.fail_next("CreateHITWithHITType", times=1, kind=kind)
    hit = make_hit(client, token=f"retried-{kind}")
    assert fake.hit_status(hit["HITId"]) == "Assignable"
    attempts = fake.requests("CreateHITWithHITType")
    expected = {"throttle": "ThrottlingException", "service": "ServiceFault", "drop": "ConnectionDropped"}[kind]
    assert [r.error for r in attempts] == [expected, None]
    assert len(fake.snapshot().hits) == 1


def test_dropped_connection_without_retries_is_a_connection_error(fake: FakeMTurk, mturk: Any) -> None:
    fake.fail_next("ListHITs", kind="drop")
    with pytest.raises(ConnectionClosedError):
        mturk.list_hits()


def test_lost_answer_then_retry_with_the_same_token_names_the_first_hit(fake: FakeMTurk) -> None:
    client = make_client(fake, retries=2)
    fake.fail_next("CreateHITWithHITType", kind="drop_after")
    with pytest.raises(client.exceptions.RequestError) as excinfo:
        make_hit(client, token="publish-unit-3")
    (only,) = fake.snapshot().hits.values()
    assert [r.error for r in fake.requests("CreateHITWithHITType")] == ["AnswerDropped", "RequestError"]
    assert excinfo.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.HitAlreadyExists"
    assert only.hit_id in excinfo.value.response["Error"]["Message"]


def test_faults_for_first_calls_and_repeats_wait_for_their_own_calls(fake: FakeMTurk, mturk: Any) -> None:
    # Queued first a retry-only fault, then a first-call one: each still lands on the call it was meant for.
    fake.fail_next("CreateHITWithHITType", kind="service", calls="repeats")
    fake.fail_next("CreateHITWithHITType", kind="throttle", calls="first")
    with pytest.raises(ClientError) as first:
        make_hit(mturk, token="unit-a")
    assert first.value.response["Error"]["Code"] == "ThrottlingException"
    with pytest.raises(ClientError) as repeat:
        make_hit(mturk, token="unit-a")
    assert repeat.value.response["Error"]["Code"] == "ServiceFault"
    make_hit(mturk, token="unit-b")  # nothing left queued
    assert [r.error for r in fake.requests("CreateHITWithHITType")] == ["ThrottlingException", "ServiceFault", None]


def test_fail_next_refuses_unknown_names(fake: FakeMTurk) -> None:
    with pytest.raises(ValueError, match="kind"):
        fake.fail_next("ListHITs", kind="explode")
    with pytest.raises(ValueError, match="calls"):
        fake.fail_next("ListHITs", calls="second")
    with pytest.raises(ValueError, match="does not implement"):
        fake.fail_next("ListHits")


def test_a_bug_in_the_fake_is_a_500_and_recorded(fake: FakeMTurk, mturk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from mephisto_provider_mturk.testing import _operations

    def broken(call: Any) -> dict[str, Any]:
        return {"AvailableBalance": 12}  # not a CurrencyAmount string: the output check catches it

    monkeypatch.setitem(_operations.OPERATIONS, "GetAccountBalance", broken)
    with pytest.raises(ClientError) as excinfo:
        mturk.get_account_balance()
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "bad GetAccountBalance answer" in fake.internal_errors[0]


def test_slow_call_trips_the_client_read_timeout_and_holds_up_no_one_else(fake: FakeMTurk, mturk: Any) -> None:
    from botocore.config import Config
    from botocore.exceptions import ReadTimeoutError

    impatient = fx._SESSION.client(
        "mturk", config=Config(read_timeout=0.3, retries={"total_max_attempts": 1}), **fake.client_kwargs()
    )
    fake.fail_next("ListHITs", kind="slow", delay=1.0)
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        impatient.list_hits()
    assert mturk.get_account_balance()["AvailableBalance"] == "10000.00"  # answered while ListHITs sleeps
    assert time.monotonic() - started < 0.9


def test_latency_applies_to_every_call(fake: FakeMTurk, mturk: Any) -> None:
    fake.set_latency(0.2)
    started = time.monotonic()
    mturk.get_account_balance()
    mturk.list_hits()
    assert time.monotonic() - started >= 0.4
    fake.set_latency(0)


def test_rate_limit_throttles_a_caller_that_goes_too_fast() -> None:
    with FakeMTurk(rate_limit=5) as limited:
        client = make_client(limited, mode="standard")
        codes = []
        for _ in range(8):
            try:
                client.get_account_balance()
                codes.append("ok")
            except ClientError as error:
                codes.append(error.response["Error"]["Code"])
        assert codes[:5] == ["ok"] * 5
        assert "ThrottlingException" in codes[5:]
        time.sleep(0.25)  # the bucket refills at 5 per second
        client.get_account_balance()


def _seed_five(fake: FakeMTurk, mturk: Any) -> dict[str, Any]:
    """Five of everything a List* call returns, and the arguments each call needs."""
    type_id = mturk.create_qualification_type(Name="q", Description="d", QualificationTypeStatus="Active")[
        "QualificationType"
    ]["QualificationTypeId"]
    requirement = [{"QualificationTypeId": type_id, "Comparator": "Exists"}]
    hit_id = make_hit(mturk, max_assignments=5, lifetime=60)["HITId"]
    for number in range(5):
        worker = f"A{number}PAGED"
        mturk.associate_qualification_with_worker(QualificationTypeId=type_id, WorkerId=worker)
        visit = fake.accept(hit_id, worker)
        fake.submit(visit.assignment_id, {"n": str(number)})
        mturk.send_bonus(WorkerId=worker, BonusAmount="0.10", AssignmentId=visit.assignment_id, Reason="r")
        mturk.create_worker_block(WorkerId=f"A{number}BLOCK", Reason="r")
        make_hit(mturk, requirements=requirement, lifetime=60, reward=f"0.1{number}")
    fake.advance(61)
    return {"type_id": type_id, "hit_id": hit_id}


@pytest.mark.parametrize(
    ("operation", "key", "args", "total"),
    [
        ("list_hits", "HITs", {}, 6),
        ("list_reviewable_hits", "HITs", {}, 6),
        ("list_hits_for_qualification_type", "HITs", {"QualificationTypeId": "type_id"}, 5),
        ("list_assignments_for_hit", "Assignments", {"HITId": "hit_id"}, 5),
        ("list_bonus_payments", "BonusPayments", {"HITId": "hit_id"}, 5),
        ("list_worker_blocks", "WorkerBlocks", {}, 5),
        ("list_workers_with_qualification_type", "Qualifications", {"QualificationTypeId": "type_id"}, 5),
        ("list_qualification_types", "QualificationTypes", {"MustBeRequestable": True, "MustBeOwnedByCaller": True}, 1),
    ],
)
def test_every_list_call_pages_through_botocore_paginators(
    fake: FakeMTurk, mturk: Any, operation: str, key: str, args: dict[str, Any], total: int
) -> None:
    seeded = _seed_five(fake, mturk)
    resolved = {name: seeded.get(value, value) if isinstance(value, str) else value for name, value in args.items()}
    pages = list(mturk.get_paginator(operation).paginate(PaginationConfig={"PageSize": 2}, **resolved))
    assert sum(len(page[key]) for page in pages) == total
    assert [page["NumResults"] for page in pages] == [len(page[key]) for page in pages]
    assert len(pages) == (total + 1) // 2
    assert all(len(page[key]) <= 2 for page in pages)
