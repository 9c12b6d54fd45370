"""Base classes a plugin subclasses: Blueprint (task type), Architect (server host), CrowdProvider (workers)."""

from mephisto_core.abstractions.architect import Architect, ArchitectArgs, Deployment
from mephisto_core.abstractions.blueprint import Blueprint, BlueprintArgs, SimulatedAnswer, UploadedFile
from mephisto_core.abstractions.provider import (
    CrowdProvider,
    ProviderArgs,
    RequesterArgs,
    WorkerIdentity,
)
from mephisto_core.abstractions.task_args import TaskArgs

__all__ = [
    "Architect",
    "ArchitectArgs",
    "Blueprint",
    "BlueprintArgs",
    "CrowdProvider",
    "Deployment",
    "ProviderArgs",
    "RequesterArgs",
    "SimulatedAnswer",
    "TaskArgs",
    "UploadedFile",
    "WorkerIdentity",
]
