"""The API's URL table: (method, path pattern under /api/v1/) -> handler, and the dispatch that uses it."""

from __future__ import annotations

import re
from collections.abc import Callable

from mephisto_provider_prolific.testing import _account, _bonuses, _groups, _studies, _submissions
from mephisto_provider_prolific.testing._request import ApiRequest, ApiResponse
from mephisto_provider_prolific.testing._store import ApiError, Store

Handler = Callable[[Store, ApiRequest], ApiResponse]

_ID = r"[^/]+"
_TABLE: list[tuple[str, str, Handler]] = [
    ("GET", "users/me/", _account.get_me),
    ("GET", "workspaces/", _account.list_workspaces),
    ("POST", "workspaces/", _account.create_workspace),
    ("GET", f"workspaces/(?P<workspace_id>{_ID})/", _account.get_workspace),
    ("GET", f"workspaces/(?P<workspace_id>{_ID})/balance/", _account.get_balance),
    ("GET", f"workspaces/(?P<workspace_id>{_ID})/projects/", _account.list_projects),
    ("POST", f"workspaces/(?P<workspace_id>{_ID})/projects/", _account.create_project),
    ("GET", f"projects/(?P<project_id>{_ID})/", _account.get_project),
    ("GET", f"projects/(?P<project_id>{_ID})/studies/", _studies.list_studies),
    ("GET", "studies/", _studies.list_studies),
    ("POST", "studies/", _studies.create_study),
    ("GET", f"studies/(?P<study_id>{_ID})/", _studies.get_study),
    ("PATCH", f"studies/(?P<study_id>{_ID})/", _studies.patch_study),
    ("DELETE", f"studies/(?P<study_id>{_ID})/", _studies.delete_study),
    ("POST", f"studies/(?P<study_id>{_ID})/transition/", _studies.transition_study),
    ("GET", f"studies/(?P<study_id>{_ID})/submissions/", _submissions.list_submissions),
    ("POST", "submissions/bulk-approve/", _submissions.bulk_approve),
    ("POST", "submissions/bonus-payments/", _bonuses.create_bulk_bonus),
    ("GET", "submissions/", _submissions.list_submissions),
    ("GET", f"submissions/(?P<submission_id>{_ID})/", _submissions.get_submission),
    ("POST", f"submissions/(?P<submission_id>{_ID})/transition/", _submissions.transition_submission),
    ("POST", f"submissions/(?P<submission_id>{_ID})/request-return/", _submissions.request_return),
    ("POST", f"bulk-bonus-payments/(?P<bonus_id>{_ID})/pay/", _bonuses.pay_bulk_bonus),
    ("GET", "messages/", _groups.list_messages),
    ("POST", "messages/", _groups.send_message),
    ("POST", "messages/bulk/", _groups.send_bulk_message),
    ("GET", "participant-groups/", _groups.list_groups),
    ("POST", "participant-groups/", _groups.create_group),
    ("GET", f"participant-groups/(?P<group_id>{_ID})/", _groups.get_group),
    ("PATCH", f"participant-groups/(?P<group_id>{_ID})/", _groups.patch_group),
    ("DELETE", f"participant-groups/(?P<group_id>{_ID})/", _groups.delete_group),
    ("GET", f"participant-groups/(?P<group_id>{_ID})/participants/", _groups.list_members),
    ("POST", f"participant-groups/(?P<group_id>{_ID})/participants/", _groups.add_members),
    ("DELETE", f"participant-groups/(?P<group_id>{_ID})/participants/", _groups.remove_members),
]
ROUTES = [(method, re.compile(pattern), handler) for method, pattern, handler in _TABLE]


def resolve(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    """The handler for `method path` (path relative to /api/v1/) and its path parameters, or a 404 / 405."""
    allowed: list[str] = []
    for route_method, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if route_method == method:
            return handler, match.groupdict()
        allowed.append(route_method)
    if allowed:
        raise ApiError(405, f'Method "{method}" not allowed on /api/v1/{path} (allowed: {", ".join(allowed)}).')
    hint = "" if path.endswith("/") else " (Prolific's paths end with a slash)"
    raise ApiError(404, f"No API endpoint /api/v1/{path}{hint}.")
