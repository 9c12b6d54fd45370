"""A local fake of Amazon Mechanical Turk's requester API for tests, driven by the real boto3 client.

`FakeMTurk` serves the AWS JSON 1.1 protocol on 127.0.0.1 and plays the workers' side (accept,
return, externalSubmit). Nothing here reaches Amazon.
"""

from __future__ import annotations

from ._operations import implemented_operations
from ._state import (
    ADULT_QUALIFICATION,
    HITS_APPROVED_QUALIFICATION,
    LOCALE_QUALIFICATION,
    MASTERS_QUALIFICATIONS,
    PERCENT_APPROVED_QUALIFICATION,
)
from ._worker_side import Visit, WorkerActionRefused
from .fake import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, FakeMTurk, Snapshot

__all__ = [
    "ADULT_QUALIFICATION",
    "DEFAULT_ACCESS_KEY_ID",
    "DEFAULT_SECRET_ACCESS_KEY",
    "HITS_APPROVED_QUALIFICATION",
    "LOCALE_QUALIFICATION",
    "MASTERS_QUALIFICATIONS",
    "PERCENT_APPROVED_QUALIFICATION",
    "FakeMTurk",
    "Snapshot",
    "Visit",
    "WorkerActionRefused",
    "implemented_operations",
]
