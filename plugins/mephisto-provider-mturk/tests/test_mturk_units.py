"""Arguments, credentials, the question XML, answers, fees and worker links of the MTurk provider."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from botocore.stub import Stubber
from mephisto_provider_mturk.args import MTurkArgs, MTurkRequesterArgs
from mephisto_provider_mturk.client import ENDPOINT_ENV, LIVE_ENDPOINT, SANDBOX_ENDPOINT, make_client
from mephisto_provider_mturk.fees import dollars, mturk_fee
from mephisto_provider_mturk.provider import MTurkProvider, MTurkSandboxProvider, request_token
from mephisto_provider_mturk.question import external_question, parse_answer
from mephisto_provider_mturk.store import Annotation, ProviderStore
from pydantic import ValidationError

from mephisto_core.errors import ProviderError
from mephisto_core.testing import unbounded_numeric_fields
from mephisto_core.testing.public_api import internal_core_imports

KEYS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG"}


def _provider(tmp_path: Path, cls: type[MTurkProvider] = MTurkSandboxProvider, **args: object) -> MTurkProvider:
    return cls(MTurkArgs(**args), "lab", KEYS, tmp_path / "providers" / cls.type_name)


def test_uses_only_the_public_api() -> None:
    assert internal_core_imports(Path(__file__).parents[1] / "src") == []


def test_args_are_bounded_and_locales_checked() -> None:
    assert unbounded_numeric_fields(MTurkArgs) == []
    assert MTurkArgs(allowed_locales=["US", "US-WA"]).allowed_locales == ["US", "US-WA"]
    with pytest.raises(ValidationError, match="ISO 3166"):
        MTurkArgs(allowed_locales=["usa"])


def test_requester_takes_a_key_pair_or_a_profile_not_both() -> None:
    assert MTurkRequesterArgs(profile="lab").profile == "lab"
    assert MTurkRequesterArgs(**KEYS).access_key_id == "AKIDEXAMPLE"
    for bad in ({"access_key_id": "A"}, {**KEYS, "profile": "lab"}, {}):
        with pytest.raises(ValidationError, match="either access_key_id"):
            MTurkRequesterArgs(**bad)
    assert "secret_access_key" in MTurkProvider.secret_fields()


def test_client_endpoints_region_and_retry_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    live, sandbox = make_client(KEYS, sandbox=False), make_client(KEYS, sandbox=True)
    assert live.meta.endpoint_url == LIVE_ENDPOINT and sandbox.meta.endpoint_url == SANDBOX_ENDPOINT
    assert live.meta.region_name == "us-east-1"
    assert live.meta.config.retries["mode"] == "adaptive" and live.meta.config.retries["total_max_attempts"] == 6
    monkeypatch.setenv(ENDPOINT_ENV, "http://127.0.0.1:9/")
    assert make_client(KEYS, sandbox=True).meta.endpoint_url == "http://127.0.0.1:9"
    monkeypatch.setenv(ENDPOINT_ENV, "ftp://x")
    with pytest.raises(ProviderError, match="for tests only"):
        make_client(KEYS, sandbox=True)


def test_validate_credentials_asks_mturk_and_never_echoes_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, "http://127.0.0.1:1")  # nothing listens: unreachable
    with pytest.raises(ProviderError) as caught:
        MTurkSandboxProvider.validate_credentials(KEYS)
    assert "could not reach MTurk" in str(caught.value)
    assert KEYS["secret_access_key"] not in str(caught.value)


def test_external_question_escapes_the_url() -> None:
    xml = external_question("https://w.example.org/task/?a=1&b=<2>", 0)
    assert "<ExternalURL>https://w.example.org/task/?a=1&amp;b=&lt;2&gt;</ExternalURL>" in xml
    assert "<FrameHeight>0</FrameHeight>" in xml
    with pytest.raises(ValueError, match="not an http"):
        external_question("javascript:alert(1)", 0)


def test_answers_are_parsed_and_hostile_xml_refused() -> None:
    xml = (
        '<QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
        '2005-10-01/QuestionFormAnswers.xsd"><Answer><QuestionIdentifier>topic</QuestionIdentifier>'
        "<FreeText>cats &amp; dogs</FreeText></Answer></QuestionFormAnswers>"
    )
    assert parse_answer(xml) == {"topic": "cats & dogs"}
    assert parse_answer("") == {}
    with pytest.raises(ValueError, match="DTD"):
        parse_answer('<!DOCTYPE x [<!ENTITY a "b">]><QuestionFormAnswers/>')
    with pytest.raises(ValueError, match="root element"):
        parse_answer("<Other/>")


def test_fees() -> None:
    assert mturk_fee(Decimal("1.00")) == Decimal("0.20")
    assert mturk_fee(Decimal("0.01")) == Decimal("0.01")  # the minimum commission
    assert mturk_fee(Decimal("1.00"), assignments_per_hit=10) == Decimal("0.40")
    assert mturk_fee(Decimal("0")) == Decimal("0.00")
    assert dollars(Decimal("0.5")) == "0.50"
    with pytest.raises(ValueError, match="whole cents"):
        dollars(Decimal("0.505"))


def test_request_tokens_fit_mturks_64_characters() -> None:
    assert request_token("short") == "short"
    assert len(request_token("k" * 100)) == 64


def test_annotation_round_trip() -> None:
    note = Annotation("ab12cd34", 7, "mephisto-7-3-xyz")
    assert Annotation.parse(note.text()) == note
    assert Annotation.parse("made by hand") is None and Annotation.parse(None) is None


def test_identify_worker_preview_work_and_bad_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    sandbox = _provider(tmp_path)
    assert sandbox.identify_worker({"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H1"}).worker_name is None
    params = {"workerId": "W1", "assignmentId": "A1", "hitId": "H1", "turkSubmitTo": "https://workersandbox.mturk.com"}
    identity = sandbox.identify_worker(params)
    assert identity.worker_name == "W1" and identity.provider_agent_id == "A1" and identity.refusal is None
    assert identity.completion is not None
    assert identity.completion.url == "https://workersandbox.mturk.com/mturk/externalSubmit"
    assert identity.completion.method == "POST" and identity.completion.fields["assignmentId"] == "A1"
    assert sandbox.store.assignment("A1") == ("H1", "W1")
    # A live link at the sandbox provider, plain http, a path or a foreign host: refused, with words.
    for submit in ("https://www.mturk.com", "http://workersandbox.mturk.com", "https://evil.example", ""):
        refused = sandbox.identify_worker({**params, "turkSubmitTo": submit})
        assert refused.worker_name is None and refused.refusal and "MTurk" in refused.refusal
    assert sandbox.identify_worker({"workerId": "W1"}).refusal
    live = _provider(tmp_path, MTurkProvider)
    assert live.identify_worker({**params, "turkSubmitTo": "https://www.mturk.com"}).worker_name == "W1"
    monkeypatch.setenv(ENDPOINT_ENV, "http://127.0.0.1:8123")  # read when the provider is built
    tested = _provider(tmp_path).identify_worker({**params, "turkSubmitTo": "http://127.0.0.1:8123"})
    assert tested.completion is not None and tested.completion.url == "http://127.0.0.1:8123/mturk/externalSubmit"


def test_simulation_is_refused_and_fee_schedule_said(tmp_path: Path) -> None:
    provider = _provider(tmp_path)
    with pytest.raises(ProviderError, match="cannot run simulated workers"):
        provider.simulated_worker_params("bot")
    assert "20%" in provider.fee_schedule() and provider.fee(Decimal("2.00")) == Decimal("0.40")
    assert MTurkProvider.requires_public_https and not MTurkSandboxProvider.requires_public_https
    assert {"publish_units", "expire_units"} <= MTurkProvider.idempotent_calls


def test_sync_interval_comes_from_the_task_file(tmp_path: Path) -> None:
    assert MTurkProvider.sync_interval_seconds == 30.0
    assert _provider(tmp_path, sync_interval_seconds=12.5).sync_interval_seconds == 12.5


def test_bonus_sends_the_key_as_unique_request_token(tmp_path: Path, make_held_unit) -> None:  # type: ignore[no-untyped-def]
    held = make_held_unit(provider_type="mturk_sandbox", requester_name="lab", worker_name="W1")
    held.agent.provider_agent_id = "ASSIGN1"
    held.agent.save()
    provider = _provider(tmp_path)
    with Stubber(provider.client) as stub:
        stub.add_response(
            "send_bonus",
            {},
            {
                "WorkerId": "W1",
                "BonusAmount": "0.75",
                "AssignmentId": "ASSIGN1",
                "Reason": "great",
                "UniqueRequestToken": "bonus-key-1",
            },
        )
        assert provider.pay_bonus(held.worker, Decimal("0.75"), "great", held.unit, "bonus-key-1") == "bonus-key-1"
        stub.assert_no_pending_responses()


def test_bonus_refused_when_balance_does_not_cover_it_and_fee(tmp_path: Path, make_held_unit) -> None:  # type: ignore[no-untyped-def]
    held = make_held_unit(provider_type="mturk_sandbox", requester_name="lab", worker_name="W2")
    held.agent.provider_agent_id = "ASSIGN2"
    held.agent.save()
    provider = _provider(tmp_path)
    with Stubber(provider.client) as stub:
        stub.add_client_error(
            "send_bonus",
            service_error_code="RequestError",
            service_message="This Requester has insufficient funds in their account to complete this transaction.",
            http_status_code=400,
        )
        stub.add_response("get_account_balance", {"AvailableBalance": "1.10"}, {})
        with pytest.raises(ProviderError, match=r"does not cover \$1.00 plus MTurk's fee \$0.20"):
            provider.pay_bonus(held.worker, Decimal("1.00"), "x", held.unit, "k")
        stub.assert_no_pending_responses()


def test_approve_overrides_a_rejection_and_is_done_when_approved(tmp_path: Path, make_held_unit) -> None:  # type: ignore[no-untyped-def]
    held = make_held_unit(provider_type="mturk_sandbox", requester_name="lab", worker_name="W3")
    held.agent.provider_agent_id = "ASSIGN3"
    provider = _provider(tmp_path)
    wrong_state = {
        "service_error_code": "RequestError",
        "service_message": "This operation can be called with a status of: Submitted",
        "http_status_code": 400,
    }
    with Stubber(provider.client) as stub:
        # MTurk is asked first; only its refusal makes the provider read the assignment's status.
        stub.add_client_error("approve_assignment", **wrong_state)
        stub.add_response(
            "get_assignment", {"Assignment": {"AssignmentStatus": "Rejected"}}, {"AssignmentId": "ASSIGN3"}
        )
        stub.add_response(
            "approve_assignment",
            {},
            {"AssignmentId": "ASSIGN3", "OverrideRejection": True, "RequesterFeedback": "ok after all"},
        )
        stub.add_client_error("approve_assignment", **wrong_state)
        stub.add_response(
            "get_assignment", {"Assignment": {"AssignmentStatus": "Approved"}}, {"AssignmentId": "ASSIGN3"}
        )
        provider.approve_work(held.agent, "ok after all")
        provider.approve_work(held.agent, "again")  # approved already: done, nothing more is sent
        stub.assert_no_pending_responses()
        stub.add_client_error("reject_assignment", **wrong_state)
        stub.add_response(
            "get_assignment", {"Assignment": {"AssignmentStatus": "Approved"}}, {"AssignmentId": "ASSIGN3"}
        )
        with pytest.raises(ProviderError, match="cannot be rejected"):
            provider.reject_work(held.agent, "no")
        stub.assert_no_pending_responses()


def test_a_submitted_assignment_is_approved_or_rejected_in_one_call(tmp_path: Path, make_held_unit) -> None:  # type: ignore[no-untyped-def]
    held = make_held_unit(provider_type="mturk_sandbox", requester_name="lab", worker_name="W4")
    held.agent.provider_agent_id = "ASSIGN4"
    provider = _provider(tmp_path)
    with Stubber(provider.client) as stub:
        stub.add_response("approve_assignment", {}, {"AssignmentId": "ASSIGN4", "RequesterFeedback": "thanks"})
        provider.approve_work(held.agent, "thanks")
        stub.add_response("reject_assignment", {}, {"AssignmentId": "ASSIGN4", "RequesterFeedback": "empty"})
        provider.reject_work(held.agent, "empty")
        stub.assert_no_pending_responses()


def test_store_install_id_is_made_once_and_private(tmp_path: Path) -> None:
    first, second = ProviderStore(tmp_path / "p"), ProviderStore(tmp_path / "p")
    assert first.install_id() == second.install_id() == first.install_id()
    assert (tmp_path / "p" / "install_id").stat().st_mode & 0o077 == 0
    assert (tmp_path / "p").stat().st_mode & 0o077 == 0
    assert list((tmp_path / "p").glob(".install_id*")) == []  # no temporary file left


def test_store_sees_assignments_another_process_appended(tmp_path: Path) -> None:
    reader, writer = ProviderStore(tmp_path), ProviderStore(tmp_path)
    assert reader.assignment("A1") is None
    writer.note_assignment("A1", "H1", "W1")
    writer.note_assignment("A2", "H1", "W2")  # the HIT came back and someone else took it
    assert reader.assignment("A1") == ("H1", "W1")
    assert reader.latest_assignment_of_hit("H1") == "A2"
    with (tmp_path / "assignments.jsonl").open("a") as fh:
        fh.write('{"assignment": "A3", "hit"')  # a line cut short by a crash
    assert reader.assignment("A3") is None and reader.latest_assignment_of_hit("H1") == "A2"
    writer.note_assignment("A4", "H2", "W4")  # the next line is whole all the same
    assert reader.assignment("A4") == ("H2", "W4") and reader.assignment("A3") is None
