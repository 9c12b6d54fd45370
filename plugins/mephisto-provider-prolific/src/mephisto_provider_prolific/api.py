"""Prolific's operations the provider needs, each one call (or a find-or-create) on top of `ProlificClient`."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from mephisto_provider_prolific.client import ProlificAPIError, ProlificClient
from mephisto_provider_prolific.models import (
    BulkBonus,
    ParticipantGroup,
    Project,
    Study,
    StudyCreate,
    Submission,
    User,
    Workspace,
    WorkspaceBalance,
)

#: One find-or-create at a time in this process: Prolific keeps names of workspaces, projects and groups unique
#: only by convention, so two threads (a bulk block, the operator's provider calls) that both find a name missing
#: would each create one, and the members would be split between them.
_FIND_OR_CREATE = threading.Lock()
#: One bonus request (set up, pay) at a time in this process: Prolific's Bonuses reference says it does not support
#: concurrent requests (a bulk bonus is how many participants are paid at once).
_BONUS_REQUEST = threading.Lock()


class ProlificAPI:
    """Typed calls of Prolific's REST API (paths as in its public reference, relative to `/api/v1/`)."""

    def __init__(self, client: ProlificClient) -> None:
        self.client = client

    # -- account, workspaces, projects ----------------------------------------------------------------------------

    def me(self) -> User:
        return self.client.get_model("users/me/", User)

    def find_workspace(self, title: str) -> Workspace | None:
        """The workspace named `title` (the first one, by Prolific's order), or None."""
        for workspace in self.client.list_models("workspaces/", Workspace):
            if workspace.title == title:
                return workspace
        return None

    def find_or_create_workspace(self, title: str) -> Workspace:
        """The workspace named `title`, created when there is none."""
        with _FIND_OR_CREATE:
            found = self.find_workspace(title)
            if found is not None:
                return found
            return self.client.send_model("POST", "workspaces/", Workspace, {"title": title})

    def find_or_create_project(self, workspace_id: str, title: str) -> Project:
        """The project named `title` in the workspace, created when there is none."""
        path = f"workspaces/{workspace_id}/projects/"
        with _FIND_OR_CREATE:
            for project in self.client.list_models(path, Project):
                if project.title == title:
                    return project
            return self.client.send_model("POST", path, Project, {"title": title})

    def balance(self, workspace_id: str) -> WorkspaceBalance:
        return self.client.get_model(f"workspaces/{workspace_id}/balance/", WorkspaceBalance)

    # -- studies --------------------------------------------------------------------------------------------------

    def create_study(self, study: StudyCreate) -> Study:
        return self.client.send_model("POST", "studies/", Study, study)

    def study(self, study_id: str) -> Study:
        return self.client.get_model(f"studies/{study_id}/", Study)

    def update_study(self, study_id: str, changes: dict[str, Any]) -> Study:
        return self.client.send_model("PATCH", f"studies/{study_id}/", Study, changes)

    def transition_study(self, study_id: str, action: str) -> Study:
        """PUBLISH, PAUSE, START (after a pause) or STOP (final)."""
        return self.client.send_model("POST", f"studies/{study_id}/transition/", Study, {"action": action})

    def studies(self) -> list[Study]:
        """Every study of the token's user."""
        return self.client.list_models("studies/", Study)

    def project_studies(self, project_id: str) -> list[Study]:
        return self.client.list_models(f"projects/{project_id}/studies/", Study)

    def find_study(self, project_id: str, internal_name: str) -> Study | None:
        """The project's study with `internal_name` (the run's own name for it), if Prolific has one."""
        for study in self.project_studies(project_id):
            if study.internal_name == internal_name:
                return study
        return None

    # -- submissions ----------------------------------------------------------------------------------------------

    def submissions_listing(self, study_id: str) -> tuple[list[Submission], int]:
        """The study's submissions, and how many pages (calls) Prolific took to list them."""
        return self.client.listing(f"studies/{study_id}/submissions/", Submission)

    def submission_state(self, submission_id: str) -> Submission:
        """The submission's participant, status and study (one call)."""
        return self.client.get_model(f"submissions/{submission_id}/", Submission)

    def submission(self, submission_id: str) -> dict[str, Any]:
        """The submission as Prolific answers it (plain JSON: `bonus_payments` is read from it)."""
        answer = self.client.request("GET", f"submissions/{submission_id}/")
        if not isinstance(answer, dict):
            raise ProlificAPIError(f"Prolific's answer to submissions/{submission_id}/ is not an object")
        return answer

    def transition_submission(self, submission_id: str, body: dict[str, Any]) -> Submission:
        return self.client.send_model("POST", f"submissions/{submission_id}/transition/", Submission, body)

    def bulk_approve(self, submission_ids: Sequence[str]) -> None:
        """Approve submissions of any studies in one call. Prolific answers "in progress": the approvals may show
        a moment later."""
        self.client.request("POST", "submissions/bulk-approve/", json={"submission_ids": list(submission_ids)})

    # -- bonuses and messages -------------------------------------------------------------------------------------

    def create_bonus(self, study_id: str, participant_id: str, amount_text: str) -> BulkBonus:
        return self.create_bonuses(study_id, [(participant_id, amount_text)])

    def create_bonuses(self, study_id: str, lines: Sequence[tuple[str, str]]) -> BulkBonus:
        """One bulk bonus of the study: a (participant id, amount) per line, set up, not paid yet."""
        csv = "".join(f"{participant_id},{amount_text}\n" for participant_id, amount_text in lines)
        body = {"study_id": study_id, "csv_bonuses": csv}
        with _BONUS_REQUEST:
            return self.client.send_model("POST", "submissions/bonus-payments/", BulkBonus, body)

    def pay_bonus(self, bulk_id: str) -> None:
        with _BONUS_REQUEST:
            self.client.request("POST", f"bulk-bonus-payments/{bulk_id}/pay/")

    def send_message(self, recipient_id: str, body: str, study_id: str) -> None:
        self.client.request(
            "POST", "messages/", json={"recipient_id": recipient_id, "body": body, "study_id": study_id}
        )

    def send_bulk_message(self, participant_ids: Sequence[str], body: str, study_id: str) -> None:
        """One message to several participants of a study (Prolific takes up to 4,000 in one call)."""
        self.client.request(
            "POST", "messages/bulk/", json={"ids": list(participant_ids), "body": body, "study_id": study_id}
        )

    # -- participant groups ---------------------------------------------------------------------------------------

    def groups(self, workspace_id: str) -> list[ParticipantGroup]:
        return self.client.list_models("participant-groups/", ParticipantGroup, params={"workspace_id": workspace_id})

    def find_or_create_group(self, workspace_id: str, name: str) -> ParticipantGroup:
        """The participant group named `name` in the workspace, created when there is none."""
        with _FIND_OR_CREATE:
            for group in self.groups(workspace_id):
                if group.name == name:
                    return group
            return self.create_group(workspace_id, name)

    def create_group(self, workspace_id: str, name: str) -> ParticipantGroup:
        body = {"workspace_id": workspace_id, "name": name}
        return self.client.send_model("POST", "participant-groups/", ParticipantGroup, body)

    def delete_group(self, group_id: str) -> None:
        self.client.request("DELETE", f"participant-groups/{group_id}/")

    def group_members(self, group_id: str) -> list[str]:
        answer = self.client.request("GET", f"participant-groups/{group_id}/participants/")
        items = answer.get("results", []) if isinstance(answer, dict) else answer
        return [str(item["participant_id"]) for item in items or [] if isinstance(item, dict)]

    def add_to_group(self, group_id: str, participant_ids: list[str]) -> None:
        if participant_ids:
            path = f"participant-groups/{group_id}/participants/"
            self.client.request("POST", path, json={"participant_ids": participant_ids})

    def remove_from_group(self, group_id: str, participant_ids: list[str]) -> None:
        if participant_ids:
            path = f"participant-groups/{group_id}/participants/"
            self.client.request("DELETE", path, json={"participant_ids": participant_ids})
