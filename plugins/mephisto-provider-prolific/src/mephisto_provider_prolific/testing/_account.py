"""The researcher's account: users/me, workspaces (with balance) and the projects inside them."""

from __future__ import annotations

from mephisto_provider_prolific.testing._request import ApiRequest, ApiResponse, paginate
from mephisto_provider_prolific.testing._store import JSON, Project, Store, Workspace, bad_request, new_id


def _title(body: JSON) -> str:
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        raise bad_request({"title": ["This field is required (a non-empty string)."]})
    description = body.get("description", "")
    if not isinstance(description, str):
        raise bad_request({"description": ["Not a valid string."]})
    return title


def add_workspace(store: Store, title: str, description: str = "", balance_cents: int = 0) -> Workspace:
    workspace = Workspace(new_id(), title, description, store.user.id, balance_cents)
    store.workspaces[workspace.id] = workspace
    return workspace


def add_project(store: Store, workspace: Workspace, title: str, description: str = "") -> Project:
    project = Project(new_id(), title, description, workspace.id, store.user.id)
    store.projects[project.id] = project
    return project


def get_me(store: Store, request: ApiRequest) -> ApiResponse:
    balance = sum(w.balance_cents for w in store.workspaces.values())
    return ApiResponse(200, store.user.to_json(balance))


def list_workspaces(store: Store, request: ApiRequest) -> ApiResponse:
    items = [w.to_json() for w in store.workspaces.values()]
    return ApiResponse(200, paginate(request, items, store.page_size))


def create_workspace(store: Store, request: ApiRequest) -> ApiResponse:
    body = request.json_object()
    workspace = add_workspace(store, _title(body), body.get("description", ""))
    return ApiResponse(201, workspace.to_json())


def get_workspace(store: Store, request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, store.workspace(request.params["workspace_id"]).to_json())


def get_balance(store: Store, request: ApiRequest) -> ApiResponse:
    workspace = store.workspace(request.params["workspace_id"])
    return ApiResponse(
        200,
        {
            "currency_code": store.user.currency_code,
            "total_balance": workspace.balance_cents,
            "available_balance": workspace.balance_cents,
            "balance_breakdown": {"rewards": workspace.balance_cents, "fees": 0, "vat": 0},
            "available_balance_breakdown": {"rewards": workspace.balance_cents, "fees": 0, "vat": 0},
        },
    )


def list_projects(store: Store, request: ApiRequest) -> ApiResponse:
    workspace = store.workspace(request.params["workspace_id"])
    items = [p.to_json() for p in store.projects.values() if p.workspace_id == workspace.id]
    return ApiResponse(200, paginate(request, items, store.page_size))


def create_project(store: Store, request: ApiRequest) -> ApiResponse:
    workspace = store.workspace(request.params["workspace_id"])
    body = request.json_object()
    project = add_project(store, workspace, _title(body), body.get("description", ""))
    return ApiResponse(201, project.to_json())


def get_project(store: Store, request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, store.project(request.params["project_id"]).to_json())
