"""The `inhouse` provider: known people open personal links (`?worker=NAME&token=TOKEN`); no platform, no fees."""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator

from mephisto_core.abstractions import NoPlatformProvider, ProviderArgs, RequesterArgs, WorkerIdentity
from mephisto_core.errors import ProviderError
from mephisto_provider_inhouse.ledger import LEDGER_NAME
from mephisto_provider_inhouse.links import (
    TOKEN_PARAM,
    WORKER_PARAM,
    base_url_problem,
    link_template,
    personal_link,
)
from mephisto_provider_inhouse.roster import PROVIDER_TYPE, RosterWorker, new_worker, parse_roster, roster_path

if TYPE_CHECKING:
    from mephisto_core.abstractions import UnitDrift
    from mephisto_core.data_model import TaskRun, Unit, Worker

log = logging.getLogger(__name__)

DEFAULT_REQUESTER = "INHOUSE"
# One message for every kind of bad link (unknown name, wrong or missing token, removed worker): it tells the
# person what to do, and tells someone guessing links nothing about which names exist.
BAD_LINK_MESSAGE = (
    "This link is not valid: it is not the personal link of anyone taking part in this study. "
    "Please ask the researcher for your personal link."
)
# Compared against when the name is unknown, so a wrong name costs the same time as a wrong token.
_DECOY_TOKEN = "x" * 32


class InhouseProviderArgs(ProviderArgs):
    """The `[provider]` section of a task that uses `type = "inhouse"`."""

    requester_name: str | None = Field(
        default=DEFAULT_REQUESTER,
        description="Name the run is recorded under. In-house studies need no account; keep the default.",
    )
    base_url: str | None = Field(
        default=None,
        description=(
            "The address workers open, when it is not the server's own (a lab host name, a proxy), e.g. "
            "https://lab.example.org/study/. The launch prints links on it. Unset: the server's address."
        ),
    )

    @field_validator("base_url")
    @classmethod
    def _usable_base_url(cls, value: str | None) -> str | None:
        problem = None if value is None else base_url_problem(value)
        if problem is not None:
            raise ValueError(problem)  # the core's message names the key and the value found
        return value


class InhouseRequesterArgs(RequesterArgs):
    """The in-house provider stores no credentials: there is no platform account."""


class InhouseProvider(NoPlatformProvider):
    """A crowd provider for lab studies with known people and no crowd platform.

    The researcher adds workers with `mephisto inhouse add-worker`; each gets a secret token, and only the
    exact pair `?worker=NAME&token=TOKEN` identifies them. The roster is read again whenever the file changes,
    so workers added, removed or given a new token take effect during a running launch. Review actions are
    recorded in `<data_dir>/ledger.jsonl`: there is nobody to pay through, so the ledger is the record.
    """

    type_name: ClassVar[str] = PROVIDER_TYPE
    Args: ClassVar[type[ProviderArgs]] = InhouseProviderArgs
    RequesterArgs: ClassVar[type[RequesterArgs]] = InhouseRequesterArgs
    default_requester_name: ClassVar[str | None] = DEFAULT_REQUESTER
    ledger_file: ClassVar[str] = LEDGER_NAME  # NoPlatformProvider writes the review actions there
    ledger_owner: ClassVar[str | None] = "in-house"
    # Who a link names is read from the link (and local files): no platform call, so no thread hop per hello.
    identifies_workers_locally: ClassVar[bool] = True

    def __init__(self, args: ProviderArgs, requester_name: str, credentials: Mapping[str, Any], data_dir: Path):
        super().__init__(args, requester_name, credentials, data_dir)
        self._roster = _RosterCache(roster_path(data_dir))
        # Simulated workers of `launch --simulate`: name -> token, held by this provider object only, so they
        # never enter the roster file and their links die with the launch.
        self._simulated: dict[str, str] = {}

    @classmethod
    def validate_credentials(cls, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """Accept only no credentials at all: there is no account to log in to."""
        if credentials:
            given = ", ".join(sorted(str(key) for key in credentials))
            raise ProviderError(
                f"the in-house provider takes no credentials, but got: {given}. "
                "It needs no registration; if you want one anyway: mephisto register inhouse NAME"
            )
        return {}

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        """A known name with its exact token is that worker; no `worker` and no `token` is a preview; anything
        else is refused with words that send the person back to the researcher."""
        name, token = params.get(WORKER_PARAM), params.get(TOKEN_PARAM)
        if name is None and token is None:
            return WorkerIdentity(None)
        worker = self._roster.workers().get(name or "")
        simulated = self._simulated.get(name or "") if worker is None else None
        expected = worker.token if worker is not None else simulated or _DECOY_TOKEN
        # Constant time in the token, so response times do not reveal how much of a guess was right.
        token_matches = hmac.compare_digest((token or "").encode(), expected.encode())
        if (worker is None and simulated is None) or not token_matches:
            return WorkerIdentity(None, refusal=BAD_LINK_MESSAGE)
        return WorkerIdentity(worker_name=name)

    def simulated_worker_params(self, worker_name: str) -> dict[str, str]:
        """A personal link for simulated worker `worker_name`, with a token this provider object alone knows.

        A name the roster already has is refused: a bot must never work (and be paid) as a real person.
        """
        if worker_name in self._roster.workers():
            raise ProviderError(
                f"the in-house roster has a worker named {worker_name!r}: simulated workers need names of "
                "their own; rename or remove that worker (mephisto inhouse remove-worker) to simulate"
            )
        token = self._simulated.setdefault(worker_name, new_worker(worker_name).token)
        return {WORKER_PARAM: worker_name, TOKEN_PARAM: token}

    def reconcile_units(self, run: TaskRun, units: Sequence[Unit]) -> list[UnitDrift]:
        """Nothing to reconcile: units are offered here only, no platform keeps a state of its own."""
        return []

    def worker_link(self, base_url: str, worker_name: str | None = None) -> str:
        """Worker `worker_name`'s personal link; without a name, the link's shape and how to print them all."""
        base = self.args.base_url or base_url  # type: ignore[attr-defined]
        if worker_name is not None:
            worker = self._roster.workers().get(worker_name)
            if worker is None:
                raise ProviderError(
                    f"{worker_name!r} is not an in-house worker; add them with: "
                    f"mephisto inhouse add-worker {worker_name}"
                )
            return personal_link(base, worker.name, worker.token)
        if not self._roster.workers():
            return (
                f"{link_template(base)} (no workers yet: mephisto inhouse add-worker NAME, "
                f"then mephisto inhouse links --base-url {base})"
            )
        return f"{link_template(base)} (personal links: mephisto inhouse links --base-url {base})"

    def setup_resources(self, run: TaskRun, worker_url: str) -> None:
        """Read the roster once before work is offered, so a broken roster stops the launch with its reason."""
        workers = self._roster.workers(strict=True)
        if not workers:
            log.warning(
                "no in-house workers yet: nobody can open this task until you add some with "
                "`mephisto inhouse add-worker NAME` (they may be added while the task runs)"
            )

    def ledger_worker_fields(self, worker: Worker) -> dict[str, Any]:
        """The email the researcher gave for `worker` (None when not on the roster), so a bonus can reach them."""
        known = self._roster.workers().get(worker.name)
        return {"email": None if known is None else known.email}


class _RosterCache:
    """The roster file's workers, read again only when the file changed (it is replaced whole on every write,
    so a new inode, time or size means new content)."""

    _MISSING: tuple[int, ...] = ()
    _UNREADABLE: tuple[int, ...] = (-1,)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._key: tuple[int, ...] | None = None  # the version of the file looked at last
        self._workers: dict[str, RosterWorker] = {}
        self._error: ProviderError | None = None  # why that version could not be read

    def workers(self, *, strict: bool = False) -> dict[str, RosterWorker]:
        """The current workers. A roster that cannot be read raises ProviderError when `strict`; otherwise it is
        logged (once per version of the file) and the last good roster stays in use, so a bad hand edit does
        not lock everybody out of a running study."""
        with self._lock:
            changed = self._look()
            if self._error is not None:
                if strict:
                    raise self._error
                if changed:
                    log.error("%s; the in-house provider keeps the roster it read before", self._error)
            return self._workers

    def _look(self) -> bool:
        """Read the file if it is not the version read last; return whether it was a new version."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return self._settle(self._MISSING, {}, None)
        except OSError as exc:
            error = ProviderError(f"cannot read the in-house roster {self.path}: {exc.strerror or exc}")
            return self._settle(self._UNREADABLE, None, error)
        with os.fdopen(fd, "rb") as fh:
            # fstat of the open file, so the key and the content read belong to the same version of the file.
            st = os.fstat(fh.fileno())
            key = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
            if key == self._key:
                return False
            raw = fh.read()
        try:
            return self._settle(key, parse_roster(raw, self.path), None)
        except ProviderError as exc:
            return self._settle(key, None, exc)

    def _settle(
        self, key: tuple[int, ...], workers: dict[str, RosterWorker] | None, error: ProviderError | None
    ) -> bool:
        changed = key != self._key
        self._key, self._error = key, error
        if workers is not None:
            self._workers = workers
        return changed
