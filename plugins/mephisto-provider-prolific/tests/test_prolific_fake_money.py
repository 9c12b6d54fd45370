"""Bonuses, messages and participant groups on the fake Prolific (real httpx client)."""

from __future__ import annotations

import httpx
import prolific_fake_fixtures as fixtures
import pytest
from mephisto_provider_prolific.testing import FakeProlific, Visit
from prolific_fake_fixtures import CODE, api_client, error_detail, published_study

# The fixtures every file of the fake's tests uses, under the names the tests take.
fake, api = fixtures.fake, fixtures.api


@pytest.fixture
def worked(fake: FakeProlific, api: httpx.Client) -> tuple[str, Visit, Visit]:
    """A study two participants completed."""
    study = published_study(api)
    visits = [fake.start(study["id"], fake.new_participant_id()) for _ in range(2)]
    for visit in visits:
        fake.complete(visit, CODE)
    return study["id"], visits[0], visits[1]


def bonus(api: httpx.Client, study_id: str, csv: str) -> httpx.Response:
    return api.post("submissions/bonus-payments/", json={"study_id": study_id, "csv_bonuses": csv})


def test_bulk_bonus_sums_amounts_in_cents_with_fees(api: httpx.Client, worked: tuple[str, Visit, Visit]) -> None:
    study_id, first, second = worked
    response = bonus(api, study_id, f"{first.participant_id},1.50\n{second.submission_id},0.25\n")
    assert response.status_code == 201
    body = response.json()
    assert len(body["id"]) == 24 and body["study"] == study_id
    assert body["amount"] == 175
    assert body["fees"] == 58 and body["vat"] == 12  # a third of the amount, VAT a fifth of the fee
    assert body["total_amount"] == 175 + 58 + 12


def test_setting_up_a_bonus_pays_nothing_until_pay(
    fake: FakeProlific, api: httpx.Client, worked: tuple[str, Visit, Visit]
) -> None:
    study_id, first, _ = worked
    balance = fake.balance_cents()
    bulk = bonus(api, study_id, f"{first.participant_id},2.00").json()
    assert fake.bonuses_paid() == []
    assert api.get(f"submissions/{first.submission_id}/").json()["bonus_payments"] == []
    paid = api.post(f"bulk-bonus-payments/{bulk['id']}/pay/")
    assert paid.status_code == 202
    assert fake.bonuses_paid() == [
        {
            "study_id": study_id,
            "participant_id": first.participant_id,
            "submission_id": first.submission_id,
            "amount": 200,
        }
    ]
    assert api.get(f"submissions/{first.submission_id}/").json()["bonus_payments"] == [200]
    assert fake.balance_cents() == balance - bulk["total_amount"]
    assert fake.bulk_bonuses()[0]["times_paid"] == 1


def test_paying_twice_is_refused_by_default(
    fake: FakeProlific, api: httpx.Client, worked: tuple[str, Visit, Visit]
) -> None:
    study_id, first, _ = worked
    bulk = bonus(api, study_id, f"{first.participant_id},1.00").json()
    assert api.post(f"bulk-bonus-payments/{bulk['id']}/pay/").status_code == 202
    again = api.post(f"bulk-bonus-payments/{bulk['id']}/pay/")
    assert again.status_code == 400 and "already been paid" in error_detail(again)
    assert len(fake.bonuses_paid()) == 1


def test_pay_twice_mode_pays_again_as_prolific_documents() -> None:
    with FakeProlific(pay_twice=True) as fake, api_client(fake) as api:
        study = published_study(api)
        visit = fake.start(study["id"], fake.new_participant_id())
        fake.complete(visit, CODE)
        bulk = bonus(api, study["id"], f"{visit.participant_id},1.00").json()
        for _ in range(2):
            assert api.post(f"bulk-bonus-payments/{bulk['id']}/pay/").status_code == 202
        assert [b["amount"] for b in fake.bonuses_paid()] == [100, 100]


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        ("stranger,1.00", "'stranger' has not taken part"),
        ("{pid},abc", "'abc' is not an amount"),
        ("{pid},-1", "positive"),
        ("{pid},0.001", "at most 2 decimals"),
        ("{pid};1.00", "expected '<participant_id>,<amount>'"),
        ("", "No bonus lines"),
    ],
)
def test_bad_bonus_lines_are_named(
    api: httpx.Client, worked: tuple[str, Visit, Visit], csv: str, expected: str
) -> None:
    study_id, first, _ = worked
    response = bonus(api, study_id, csv.format(pid=first.participant_id))
    assert response.status_code == 400
    assert expected in str(error_detail(response))


def test_bonus_needs_study_and_csv(api: httpx.Client) -> None:
    response = api.post("submissions/bonus-payments/", json={"csv_bonuses": "a,1"})
    assert response.status_code == 400 and "study_id" in error_detail(response)
    assert api.post("bulk-bonus-payments/000000000000000000000000/pay/").status_code == 400


def test_bonus_beyond_the_balance_is_refused(
    fake: FakeProlific, api: httpx.Client, worked: tuple[str, Visit, Visit]
) -> None:
    study_id, first, _ = worked
    bulk = bonus(api, study_id, f"{first.participant_id},5.00").json()
    fake.set_balance(100)
    refused = api.post(f"bulk-bonus-payments/{bulk['id']}/pay/")
    assert refused.status_code == 400 and "balance" in error_detail(refused)
    assert fake.bonuses_paid() == []


def test_message_to_a_participant_of_the_study(
    fake: FakeProlific, api: httpx.Client, worked: tuple[str, Visit, Visit]
) -> None:
    study_id, first, second = worked
    sent = api.post("messages/", json={"recipient_id": first.participant_id, "study_id": study_id, "body": "Thanks!"})
    assert sent.status_code == 201
    assert sent.json()["sender_id"] == fake.user_id
    api.post("messages/", json={"recipient_id": second.participant_id, "study_id": study_id, "body": "Hi"})
    mine = api.get("messages/", params={"user_id": first.participant_id}).json()["results"]
    assert [(m["recipient_id"], m["body"]) for m in mine] == [(first.participant_id, "Thanks!")]
    assert len(api.get("messages/").json()["results"]) == 2
    assert [m["body"] for m in fake.messages()] == ["Thanks!", "Hi"]


def test_message_validation(api: httpx.Client, worked: tuple[str, Visit, Visit]) -> None:
    study_id, first, _ = worked
    empty = api.post("messages/", json={"recipient_id": first.participant_id, "study_id": study_id, "body": " "})
    assert empty.status_code == 400 and "body" in error_detail(empty)
    stranger = api.post("messages/", json={"recipient_id": "someone", "study_id": study_id, "body": "Hello"})
    assert stranger.status_code == 400 and "has not taken part" in str(error_detail(stranger))
    missing = api.post("messages/", json={"body": "Hello"})
    assert {"recipient_id", "study_id"} <= set(error_detail(missing))


def test_one_message_to_several_participants_and_its_validation(
    fake: FakeProlific, api: httpx.Client, worked: tuple[str, Visit, Visit]
) -> None:
    study_id, first, second = worked
    ids = [first.participant_id, second.participant_id]
    sent = api.post("messages/bulk/", json={"ids": ids, "study_id": study_id, "body": "Thank you both"})
    assert sent.status_code == 200
    assert [(m["recipient_id"], m["body"]) for m in fake.messages()] == [(pid, "Thank you both") for pid in ids]
    stranger = api.post("messages/bulk/", json={"ids": [*ids, "someone"], "study_id": study_id, "body": "Hi"})
    assert stranger.status_code == 400 and "someone" in str(error_detail(stranger))
    too_many = api.post("messages/bulk/", json={"ids": ["p"] * 4001, "study_id": study_id, "body": "Hi"})
    assert too_many.status_code == 400 and "At most 4000" in str(error_detail(too_many))
    broken = api.post("messages/bulk/", json={"ids": "p1", "body": " "})
    assert {"ids", "body", "study_id"} <= set(error_detail(broken))
    assert len(fake.messages()) == 2  # the refused ones sent nothing


def test_participant_group_life_cycle(fake: FakeProlific, api: httpx.Client) -> None:
    created = api.post(
        "participant-groups/",
        json={"name": "Blocked", "workspace_id": fake.default_workspace_id, "participant_ids": ["p1"]},
    )
    assert created.status_code == 201
    group = created.json()
    assert group["participant_count"] == 1 and group["workspace_id"] == fake.default_workspace_id
    members = f"participant-groups/{group['id']}/participants/"
    added = api.post(members, json={"participant_ids": ["p2", "p1"]}).json()["results"]
    assert [m["participant_id"] for m in added] == ["p1", "p2"]  # p1 was already there: ignored
    remaining = api.request("DELETE", members, json={"participant_ids": ["p1"]}).json()["results"]
    assert [m["participant_id"] for m in remaining] == ["p2"]
    assert [m["participant_id"] for m in api.get(members).json()["results"]] == ["p2"]
    renamed = api.patch(f"participant-groups/{group['id']}/", json={"name": "Blocked workers"}).json()
    assert renamed["name"] == "Blocked workers" and renamed["participant_count"] == 1
    listed = api.get("participant-groups/", params={"workspace_id": fake.default_workspace_id}).json()["results"]
    assert [g["id"] for g in listed] == [group["id"]]
    assert api.delete(f"participant-groups/{group['id']}/").status_code == 204
    assert api.get(f"participant-groups/{group['id']}/").status_code == 404
    assert api.get("participant-groups/").json()["results"] == []
    assert fake.participant_groups(include_deleted=True)[0]["is_deleted"] is True


def test_patch_participant_ids_overwrites_members(fake: FakeProlific, api: httpx.Client) -> None:
    group = api.post(
        "participant-groups/", json={"name": "G", "workspace_id": fake.default_workspace_id, "participant_ids": ["a"]}
    ).json()
    api.patch(f"participant-groups/{group['id']}/", json={"participant_ids": ["b", "c"]})
    assert fake.group_members(group["id"]) == ["b", "c"]


def test_group_in_a_project_and_bad_groups(fake: FakeProlific, api: httpx.Client) -> None:
    in_project = api.post("participant-groups/", json={"name": "P", "project_id": fake.default_project_id})
    assert in_project.status_code == 201 and in_project.json()["workspace_id"] == fake.default_workspace_id
    nowhere = api.post("participant-groups/", json={"name": "X"})
    assert nowhere.status_code == 400 and "workspace_id" in error_detail(nowhere)
    unnamed = api.post("participant-groups/", json={"workspace_id": fake.default_workspace_id})
    assert unnamed.status_code == 400 and "name" in error_detail(unnamed)
    bad_ids = api.post(
        "participant-groups/", json={"name": "Y", "workspace_id": fake.default_workspace_id, "participant_ids": "p1"}
    )
    assert bad_ids.status_code == 400 and "participant_ids" in error_detail(bad_ids)
    assert api.get("participant-groups/000000000000000000000000/participants/").status_code == 404
