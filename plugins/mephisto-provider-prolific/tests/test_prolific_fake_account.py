"""The fake Prolific's account endpoints, auth, and how it answers malformed calls (real httpx client)."""

from __future__ import annotations

import httpx
import prolific_fake_fixtures as fixtures
import pytest
from mephisto_provider_prolific.testing import FakeProlific
from prolific_fake_fixtures import api_client, error_detail

# The fixtures every file of the fake's tests uses, under the names the tests take.
fake, api = fixtures.fake, fixtures.api


def test_base_url_is_a_local_api_root(fake: FakeProlific) -> None:
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.base_url.endswith("/api/v1/")
    assert fake.completion_url == fake.base_url.removesuffix("api/v1/") + "submissions/complete"


def test_unknown_token_is_401_in_prolifics_error_shape(fake: FakeProlific) -> None:
    with api_client(fake, token="not-the-key") as stranger:
        response = stranger.get("users/me/")
    assert response.status_code == 401
    assert "Invalid token" in error_detail(response)
    assert response.json()["error"]["title"] == "Authentication failed."


def test_missing_authorization_header_is_401(fake: FakeProlific) -> None:
    response = httpx.get(fake.base_url + "studies/")
    assert response.status_code == 401


def test_me_names_the_researcher_and_balance(fake: FakeProlific, api: httpx.Client) -> None:
    me = api.get("users/me/").json()
    assert me["id"] == fake.user_id
    assert len(me["id"]) == 24 and int(me["id"], 16) >= 0
    assert me["currency_code"] == "GBP"
    assert me["available_balance"] == fake.balance_cents()


def test_new_account_has_a_default_workspace_and_project(fake: FakeProlific, api: httpx.Client) -> None:
    workspaces = api.get("workspaces/").json()
    assert [w["title"] for w in workspaces["results"]] == ["My Workspace"]
    assert workspaces["meta"]["count"] == 1
    projects = api.get(f"workspaces/{fake.default_workspace_id}/projects/").json()["results"]
    assert [(p["id"], p["title"], p["workspace"]) for p in projects] == [
        (fake.default_project_id, "Project", fake.default_workspace_id)
    ]


def test_create_workspace_then_project_inside_it(api: httpx.Client) -> None:
    created = api.post("workspaces/", json={"title": "Mephisto", "description": "runs"})
    assert created.status_code == 201
    workspace = created.json()
    assert api.get(f"workspaces/{workspace['id']}/").json()["title"] == "Mephisto"
    project = api.post(f"workspaces/{workspace['id']}/projects/", json={"title": "Images"})
    assert project.status_code == 201
    assert project.json()["workspace"] == workspace["id"]
    assert api.get(f"projects/{project.json()['id']}/").json()["title"] == "Images"
    listed = api.get(f"workspaces/{workspace['id']}/projects/").json()["results"]
    assert [p["title"] for p in listed] == ["Images"]


def test_workspace_without_title_is_refused(api: httpx.Client) -> None:
    response = api.post("workspaces/", json={"description": "no title"})
    assert response.status_code == 400
    assert "title" in error_detail(response)


def test_workspace_balance(fake: FakeProlific, api: httpx.Client) -> None:
    fake.set_balance(4321)
    balance = api.get(f"workspaces/{fake.default_workspace_id}/balance/").json()
    assert balance["available_balance"] == 4321
    assert balance["currency_code"] == "GBP"


def test_unknown_workspace_is_404(api: httpx.Client) -> None:
    response = api.get("workspaces/000000000000000000000000/projects/")
    assert response.status_code == 404
    assert "000000000000000000000000" in error_detail(response)


def test_unknown_path_and_missing_slash_are_404_with_a_hint(api: httpx.Client) -> None:
    assert api.get("nothing-here/").status_code == 404
    response = api.get("users/me")
    assert response.status_code == 404
    assert "slash" in error_detail(response)


def test_wrong_method_is_405(api: httpx.Client) -> None:
    response = api.delete("users/me/")
    assert response.status_code == 405
    assert "GET" in error_detail(response)


def test_invalid_json_is_400(api: httpx.Client) -> None:
    response = api.post("workspaces/", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "JSON parse error" in error_detail(response)


def test_body_that_is_not_an_object_is_400(api: httpx.Client) -> None:
    response = api.post("workspaces/", json=["a", "list"])
    assert response.status_code == 400
    assert "non_field_errors" in error_detail(response)


def test_fake_is_not_reachable_after_close() -> None:
    with FakeProlific() as running:
        url = running.base_url
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "users/me/", timeout=2)


def test_close_ends_kept_alive_connections_too() -> None:
    fake = FakeProlific().open()
    with api_client(fake) as api:
        assert api.get("users/me/").status_code == 200  # the connection stays open (keep-alive)
        fake.close()
        with pytest.raises(httpx.TransportError):
            api.get("users/me/")
