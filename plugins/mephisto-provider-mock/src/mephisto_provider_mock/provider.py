"""The `mock` provider: workers are whoever opens `?worker_id=NAME`; review actions go to a local ledger."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from pydantic import Field

from mephisto_core.abstractions import NoPlatformProvider, ProviderArgs, RequesterArgs, WorkerIdentity
from mephisto_core.errors import ProviderError
from mephisto_provider_mock.ledger import LEDGER_DIR, LEDGER_NAME

if TYPE_CHECKING:
    from mephisto_core.abstractions import UnitDrift
    from mephisto_core.data_model import TaskRun, Unit

WORKER_ID_PARAM = "worker_id"
MAX_WORKER_NAME_LENGTH = 128


class MockProviderArgs(ProviderArgs):
    """The `[provider]` section of a task that uses `type = "mock"`."""

    requester_name: str | None = Field(
        default="MOCK_REQUESTER",
        description="Name the run is recorded under. The mock provider needs no account; keep the default.",
    )


class MockRequesterArgs(RequesterArgs):
    """The mock provider stores no credentials: `mephisto register mock NAME` takes no key=value pairs."""


class MockProvider(NoPlatformProvider):
    """A crowd provider for local testing and in-person studies.

    Anyone who opens `http://HOST:PORT/?worker_id=NAME` works as worker NAME (the core creates the worker the
    first time it sees the name). Nothing is published or paid anywhere: every approve, reject, block and
    unblock is appended to `<data_dir>/mock/ledger.jsonl` so a test or a curious researcher can see that the
    provider was asked; rewards and bonuses are rows of the core's payments ledger (`mephisto payments`).
    """

    type_name: ClassVar[str] = "mock"
    Args: ClassVar[type[ProviderArgs]] = MockProviderArgs
    RequesterArgs: ClassVar[type[RequesterArgs]] = MockRequesterArgs
    is_sandbox: ClassVar[bool] = True
    default_requester_name: ClassVar[str | None] = "MOCK_REQUESTER"
    # The ledger's place and format are the mock's own (NoPlatformProvider writes it): <data dir>/mock/, and
    # every entry lists every field, null where the action has none.
    ledger_file: ClassVar[str] = f"{LEDGER_DIR}/{LEDGER_NAME}"
    ledger_lists_every_field: ClassVar[bool] = True
    # Who a link names is read from the link (and local files): no platform call, so no thread hop per hello.
    identifies_workers_locally: ClassVar[bool] = True

    @classmethod
    def validate_credentials(cls, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """Accept only an empty set of credentials: the mock provider has no account to log in to."""
        if credentials:
            given = ", ".join(sorted(str(key) for key in credentials))
            raise ProviderError(
                f"the mock provider takes no credentials, but got: {given}. "
                "Register it without key=value pairs: mephisto register mock NAME"
            )
        return {}

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        """The worker is the `worker_id` query parameter; without one the visitor sees the preview."""
        if WORKER_ID_PARAM not in params:
            return WorkerIdentity(None)
        name = params[WORKER_ID_PARAM]
        problem = _worker_name_problem(name)
        if problem is not None:
            return WorkerIdentity(None, refusal=problem)
        return WorkerIdentity(worker_name=name)

    def reconcile_units(self, run: TaskRun, units: Sequence[Unit]) -> list[UnitDrift]:
        """Nothing to reconcile: units are offered here only, no platform keeps a state of its own."""
        return []

    def worker_link(self, base_url: str, worker_name: str | None = None) -> str:
        """`base_url?worker_id=NAME`; without a name, a link with a placeholder to replace."""
        if worker_name is None:
            return f"{base_url}?{WORKER_ID_PARAM}=YOUR_NAME"
        return f"{base_url}?{WORKER_ID_PARAM}={quote(worker_name, safe='')}"

    def simulated_worker_params(self, worker_name: str) -> dict[str, str]:
        """A simulated worker opens the same link as a person: `?worker_id=NAME`."""
        return {WORKER_ID_PARAM: worker_name}


def _worker_name_problem(name: str) -> str | None:
    """Why `name` cannot be a worker name, in words for the person who opened the link; None if it can."""
    if not name.strip():
        return "This link has an empty worker_id. Ask for a link that ends in ?worker_id=YOUR_NAME."
    if len(name) > MAX_WORKER_NAME_LENGTH:
        return (
            f"The worker_id in this link is {len(name)} characters long; at most {MAX_WORKER_NAME_LENGTH} are allowed."
        )
    # A printable name has no control character: one C call for nearly every hello, the walk only for the rest.
    if not name.isprintable() and any(unicodedata.category(ch) == "Cc" for ch in name):
        return "The worker_id in this link contains control characters (such as a line break or tab)."
    return None
