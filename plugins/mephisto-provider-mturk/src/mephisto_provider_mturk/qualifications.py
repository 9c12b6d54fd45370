"""Mephisto qualifications as MTurk qualification types, and task requirements as MTurk QualificationRequirements."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from mephisto_provider_mturk.client import MTurkError, call, pages
from mephisto_provider_mturk.store import ProviderStore


class QualificationRequirement(Protocol):
    """What this module reads of a task's `[[task.qualifications]]` entry."""

    @property
    def name(self) -> str: ...
    @property
    def comparator(self) -> str: ...
    @property
    def value(self) -> Any: ...


log = logging.getLogger(__name__)

#: MTurk's system qualification "Worker_Locale".
LOCALE_QUALIFICATION_ID = "00000000000000000071"

COMPARATORS = {
    "exists": "Exists",
    "not_exists": "DoesNotExist",
    "==": "EqualTo",
    "!=": "NotEqualTo",
    ">": "GreaterThan",
    ">=": "GreaterThanOrEqualTo",
    "<": "LessThan",
    "<=": "LessThanOrEqualTo",
    "in": "In",
    "not_in": "NotIn",
}


def describe(req: QualificationRequirement) -> str:
    """How MTurk checks one requirement, for `mephisto check` (no MTurk call)."""
    comparator = COMPARATORS[req.comparator]
    value = "" if req.value is None else f" {req.value}"
    return f"MTurk qualification type {req.name!r} {comparator}{value}"


def requirement(type_id: str, req: QualificationRequirement) -> dict[str, Any]:
    """The QualificationRequirement structure for one `[[task.qualifications]]` entry."""
    out: dict[str, Any] = {"QualificationTypeId": type_id, "Comparator": COMPARATORS[req.comparator]}
    if req.value is not None:
        values = req.value if isinstance(req.value, list) else [req.value]
        out["IntegerValues"] = [int(v) for v in values]
    return out


def locale_requirement(locales: Sequence[str]) -> dict[str, Any]:
    """Only workers in these countries (or COUNTRY-SUBDIVISION) may take (and see) the HITs."""
    values = []
    for code in locales:
        country, _, subdivision = code.partition("-")
        values.append({"Country": country, "Subdivision": subdivision} if subdivision else {"Country": country})
    return {
        "QualificationTypeId": LOCALE_QUALIFICATION_ID,
        "Comparator": "In",
        "LocaleValues": values,
        "ActionsGuarded": "DiscoverPreviewAndAccept",
    }


#: One creation at a time in this process: the provider's threads (a bulk grant, the operator's calls) each make a
#: `QualificationTypes` of their own, and two creating the same new name at once would both be refused the name
#: and make a suffixed type each.
_ENSURE_LOCK = threading.Lock()


class QualificationTypes:
    """Finds or creates the MTurk qualification type of each mephisto qualification, once per requester.

    The id is cached in the provider's data folder. A name MTurk refuses to create (taken: MTurk keeps names
    unique, and a type deleted recently or owned by someone else blocks it) is created once more as
    "NAME (mephisto INSTALL)"; the mapping keeps the mephisto name, so nothing else changes. When that fails
    too, a ProviderError says which name to free.
    """

    def __init__(self, client: Any, secrets: list[str], store: ProviderStore, requester: str) -> None:
        self.client = client
        self.secrets = secrets
        self.store = store
        self.requester = requester

    def known(self, name: str) -> str | None:
        """The cached type id of `name`, without asking MTurk."""
        return self.store.qualification_ids(self.requester).get(name)

    def find(self, name: str) -> str | None:
        """The type id of `name` (cached, else one of ours at MTurk with that exact name), or None."""
        known = self.known(name)
        if known is not None:
            return known
        for candidate in (name, self._suffixed(name)):
            for qtype in pages(
                self.client.list_qualification_types,
                "QualificationTypes",
                self.secrets,
                "list qualification types",
                Query=candidate,
                MustBeRequestable=False,
                MustBeOwnedByCaller=True,
            ):
                if qtype.get("Name") == candidate and qtype.get("QualificationTypeStatus") == "Active":
                    type_id = str(qtype["QualificationTypeId"])
                    self.store.save_qualification_id(self.requester, name, type_id)
                    return type_id
        return None

    def ensure(self, name: str) -> str:
        """The type id of `name`, creating the type at MTurk the first time."""
        with _ENSURE_LOCK:
            found = self.find(name)
            if found is not None:
                return found
            try:
                type_id = self._create(name)
            except MTurkError as first:
                if first.code != "RequestError":
                    raise
                # Taken: most often by another process that created it a moment ago, so it is ours to use.
                found = self.find(name)
                if found is not None:
                    return found
                log.warning("MTurk refused qualification type name %r (%s); using a suffixed name", name, first)
                try:
                    type_id = self._create(self._suffixed(name))
                except MTurkError as second:
                    raise MTurkError(
                        f"cannot create an MTurk qualification type for {name!r}: MTurk refused both {name!r} and "
                        f"{self._suffixed(name)!r} ({second.mturk_message or second}); delete or rename the "
                        "existing type at MTurk, or rename the qualification",
                        second.code,
                    ) from second
            self.store.save_qualification_id(self.requester, name, type_id)
            return type_id

    def _suffixed(self, name: str) -> str:
        return f"{name} (mephisto {self.store.install_id()})"

    def _create(self, name: str) -> str:
        answer = call(
            f"create qualification type {name!r}",
            self.client.create_qualification_type,
            self.secrets,
            Name=name,
            Description=f"Granted by mephisto: {name}",
            QualificationTypeStatus="Active",
        )
        return str(answer["QualificationType"]["QualificationTypeId"])
