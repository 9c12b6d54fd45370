"""Comparing a run's units with MTurk: work submitted or returned there, and HITs left open by a crash.

MTurk lists only submitted assignments, so an assignment held here is followed through its HIT: while the HIT
still holds it (pending, and no later assignment seen on it) the worker is at it; otherwise MTurk either has it
submitted (GetAssignment answers) or it was returned or abandoned.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mephisto_core.abstractions import DriftKind, UnitDrift, at_once, listing_beats_each
from mephisto_provider_mturk.client import PAGE_SIZE, MTurkError
from mephisto_provider_mturk.links import SUBMITTED_FIELD
from mephisto_provider_mturk.question import parse_answer

if TYPE_CHECKING:
    from mephisto_core.data_model import TaskRun, Unit
    from mephisto_provider_mturk.provider import MTurkProvider

log = logging.getLogger(__name__)

#: What MTurk calls an assignment whose answer it holds.
SUBMITTED_STATES = ("Submitted", "Approved", "Rejected")


def held_units_drifts(provider: MTurkProvider, units: Sequence[Unit]) -> list[UnitDrift]:
    """A drift for each unit held here whose assignment was submitted, returned or abandoned at MTurk."""
    from mephisto_core.data_model import Agent, UnitStatus

    held = {u.agent_id: u for u in units if u.status == UnitStatus.ASSIGNED.value and u.agent_id is not None}
    if not held:
        return []
    pairs = [
        (held[agent.id], str(agent.provider_agent_id))
        for agent in Agent.select(Agent.id, Agent.provider_agent_id).where(Agent.id.in_(list(held)))
        if agent.provider_agent_id
    ]
    # A sync of many held units must stay well inside the provider's call timeout, and within MTurk's rate
    # limits: one GetHIT per held unit, several at once, took 50-150 s for 500 units one after the other and still
    # 13 s at 8 at once (0.2 s per call); one listing of the account reads a hundred HITs per call.
    listed = None
    if _listing_is_cheaper(len(pairs), provider.hits.last_count()):
        listed = {str(hit["HITId"]): hit for hit in provider.hits.all(fresh=True)}
    found = at_once(lambda pair: held_drift(provider, *pair, listed), pairs, "sync")
    return [drift for drift in found if drift is not None]


def _listing_is_cheaper(held: int, account_hits: int | None) -> bool:
    """Whether one listing of the account's HITs (ListHITs, PAGE_SIZE a page) beats a GetHIT per held unit
    (`listing_beats_each`: the way with fewer calls). Before the first listing, the account is taken to hold the
    held units' HITs only."""
    return listing_beats_each(held, -(-max(account_hits or 0, held) // PAGE_SIZE))


def held_drift(
    provider: MTurkProvider, unit: Unit, assignment_id: str, listed: Mapping[str, dict[str, Any]] | None = None
) -> UnitDrift | None:
    """What MTurk says of an assignment held here: still being worked on (None), submitted, or gone.

    The HIT as `listed` (a fresh listing of the account's HITs by id), or else one GetHIT per held unit while the
    worker is at it (the in-run sync's usual case); GetAssignment only when the HIT no longer holds that
    assignment.
    """
    seen = provider.store.assignment(assignment_id)
    hit_id = seen[0] if seen is not None else unit.provider_unit_id
    if hit_id:
        hit = listed.get(hit_id) if listed is not None else None
        if hit is None:
            hit = _read_hit(provider, hit_id, assignment_id)
        pending = int(hit.get("NumberOfAssignmentsPending", 0))
        latest = provider.store.latest_assignment_of_hit(hit_id)
        if pending > 0 and latest in (None, assignment_id):
            return None
    info = provider.submitted_assignment(assignment_id) or {}
    if info.get("AssignmentStatus") in SUBMITTED_STATES:
        return UnitDrift(
            DriftKind.SUBMITTED_THERE,
            unit.id,
            provider_unit_id=assignment_id,
            worker_name=str(info["WorkerId"]) if info.get("WorkerId") else None,
            outputs=answer_outputs(str(info.get("Answer", ""))),
        )
    if not hit_id:
        return None  # neither the HIT nor a submission is known: nothing to tell
    return UnitDrift(DriftKind.ABANDONED_THERE, unit.id, provider_unit_id=assignment_id)


def _read_hit(provider: MTurkProvider, hit_id: str, assignment_id: str) -> dict[str, Any]:
    """The HIT (GetHIT); empty when MTurk does not know it."""
    try:
        return provider.hits.get(hit_id)
    except MTurkError as exc:
        if exc.code != "RequestError":
            raise
        # Not a HIT of this requester: the link was made up (MTurk does not sign its parameters), so whoever
        # holds the unit here holds no assignment there; the unit is freed by the caller.
        log.warning("HIT %s of assignment %s is unknown at MTurk: %s", hit_id, assignment_id, exc)
        return {}


def answer_outputs(xml: str) -> dict[str, Any] | None:
    """The answer fields MTurk holds, without the ones mephisto's own post adds; None when nothing else."""
    try:
        fields = parse_answer(xml)
    except ValueError as exc:
        log.warning("an MTurk answer could not be read: %s", exc)
        return None
    fields.pop("assignmentId", None)
    fields.pop(SUBMITTED_FIELD, None)
    return dict(fields) or None  # only our marker: the answer itself never reached MTurk


def unknown_here(provider: MTurkProvider, run: TaskRun, freed: int, listed_since: float) -> list[UnitDrift]:
    """Open HITs of the run beyond one per unit offered here (`freed` more are about to be offered again).

    The account's HITs as listed since `listed_since` (`time.monotonic()`): a listing the held units' check made
    in the same call is used again, not made twice. The units offered are counted from the database after that
    listing, not from the caller's snapshot: a unit published in between then counts without its HIT, which errs
    towards keeping HITs, never withdrawing one a unit needs.
    """
    from mephisto_core.data_model import Unit as UnitModel
    from mephisto_core.data_model import UnitStatus

    listed = provider.hits.of_run(run.id, since=listed_since)
    assignable = [h for h in listed if h.get("HITStatus") == "Assignable"]
    offered = [
        hit_id
        for (hit_id,) in UnitModel.select(UnitModel.provider_unit_id)
        .where((UnitModel.task_run == run.id) & (UnitModel.status == UnitStatus.LAUNCHED.value))
        .tuples()
    ]
    # Keep one open HIT per offered unit, the units' own first; the rest is what a crash left.
    own_hits = set(offered)
    assignable.sort(key=lambda h: h["HITId"] not in own_hits)
    drifts = []
    for hit in assignable[len(offered) + freed :]:
        hit_id = str(hit["HITId"])
        own = UnitModel.get_or_none(UnitModel.provider_unit_id == hit_id)
        drifts.append(UnitDrift(DriftKind.UNKNOWN_HERE, own.id if own is not None else None, hit_id))
    return drifts
