"""Base classes a plugin subclasses: Blueprint (task type), Architect (server host), CrowdProvider (workers)."""

from mephisto_core.abstractions.appended_lines import append_line, read_new_lines
from mephisto_core.abstractions.architect import Architect, ArchitectArgs, Deployment, LocalChannelLink
from mephisto_core.abstractions.blueprint import Blueprint, BlueprintArgs, SimulatedAnswer, UploadedFile
from mephisto_core.abstractions.calls_at_once import PROVIDER_CALLS_AT_ONCE, at_once, listing_beats_each
from mephisto_core.abstractions.ledger import ActionLedger
from mephisto_core.abstractions.leftovers import CleanupScope, Leftover, LeftoverCleaner, LeftoverKind
from mephisto_core.abstractions.live import LiveAgent, LivePages, LiveSession, StoredLiveMessage
from mephisto_core.abstractions.no_platform import NoPlatformProvider
from mephisto_core.abstractions.offered_units import OfferedUnitsCleaner
from mephisto_core.abstractions.platform_sync import PlatformOutcome, PlatformUnsupported, RequirementMapping
from mephisto_core.abstractions.provider import (
    CALLS_WITH_MANY_FORMS,
    BonusOrder,
    CrowdProvider,
    DriftKind,
    PageCompletion,
    ProviderArgs,
    RequesterArgs,
    UnitDrift,
    WorkerIdentity,
)
from mephisto_core.abstractions.secrets import redact, secret_field_names
from mephisto_core.abstractions.task_args import QualificationRequirement, TaskArgs

__all__ = [
    "CALLS_WITH_MANY_FORMS",
    "PROVIDER_CALLS_AT_ONCE",
    "ActionLedger",
    "Architect",
    "ArchitectArgs",
    "Blueprint",
    "BlueprintArgs",
    "BonusOrder",
    "CleanupScope",
    "CrowdProvider",
    "Deployment",
    "DriftKind",
    "Leftover",
    "LeftoverCleaner",
    "LeftoverKind",
    "LiveAgent",
    "LivePages",
    "LiveSession",
    "LocalChannelLink",
    "NoPlatformProvider",
    "OfferedUnitsCleaner",
    "PageCompletion",
    "PlatformOutcome",
    "PlatformUnsupported",
    "ProviderArgs",
    "QualificationRequirement",
    "RequesterArgs",
    "RequirementMapping",
    "SimulatedAnswer",
    "StoredLiveMessage",
    "TaskArgs",
    "UnitDrift",
    "UploadedFile",
    "WorkerIdentity",
    "append_line",
    "at_once",
    "listing_beats_each",
    "read_new_lines",
    "redact",
    "secret_field_names",
]
