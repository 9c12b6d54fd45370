"""The data model: peewee models, statuses and their transitions, the database and its migrations."""

from mephisto_core.data_model.database import Database, open_database
from mephisto_core.data_model.models import (
    Agent,
    AgentFile,
    Assignment,
    GrantedQualification,
    OnboardingAgent,
    Project,
    Qualification,
    Requester,
    Review,
    Task,
    TaskRun,
    Unit,
    Upload,
    Worker,
)
from mephisto_core.data_model.statuses import (
    AgentStatus,
    AssignmentStatus,
    ReviewKind,
    UnitStatus,
    assignment_status,
    check_agent_transition,
    check_unit_transition,
)

__all__ = [
    "Agent",
    "AgentFile",
    "AgentStatus",
    "Assignment",
    "AssignmentStatus",
    "Database",
    "GrantedQualification",
    "OnboardingAgent",
    "Project",
    "Qualification",
    "Requester",
    "Review",
    "ReviewKind",
    "Task",
    "TaskRun",
    "Unit",
    "UnitStatus",
    "Upload",
    "Worker",
    "assignment_status",
    "check_agent_transition",
    "check_unit_transition",
    "open_database",
]
