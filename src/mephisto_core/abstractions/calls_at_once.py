"""A provider's own calls to its platform, several in flight at once (a publish of many units, an in-run sync).

Each platform call waits 0.1-0.3 s on the network, so a provider method that needs one call per unit spends most of
its time waiting; a few threads overlap those waits. The core's review commands have their own pool
(`operations.recorded_calls`); this one is for work inside one provider call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Calls in flight at once: enough to hide the network's wait, few enough to stay inside a platform's rate limits.
PROVIDER_CALLS_AT_ONCE = 8
#: Pages of a listing past which its time decides, not its calls: 20 s at 0.2 s a call, a third of the 60 s a
#: provider call is given.
LONG_LISTING_PAGES = 100


def at_once(fn: Callable[[T], R], items: Sequence[T], what: str) -> list[R]:
    """`fn(item)` for each of `items`, `PROVIDER_CALLS_AT_ONCE` at a time; the results in order.

    A failure is raised once every call has finished, so the others' effects at the platform stand and a retry
    finds them. `what` names the threads (seen in a profile or a stack dump)."""
    if len(items) < 2:
        return [fn(item) for item in items]
    workers = min(PROVIDER_CALLS_AT_ONCE, len(items))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"provider-{what}") as pool:
        futures = [pool.submit(fn, item) for item in items]
    return [future.result() for future in futures]


def listing_beats_each(items: int, pages: int) -> bool:
    """Whether to read `items` things from one listing of `pages` pages (one page after the other) rather than with
    a call each (`PROVIDER_CALLS_AT_ONCE` at a time), as an in-run sync reads the units workers hold.

    The way with fewer calls, as platforms' rate limits count calls: a few items among many pages are read one by
    one. But a listing long enough to risk the provider call's timeout gives way to the calls each whenever they
    take fewer rounds.
    """
    if items < pages:
        return False
    rounds_each = -(-items // PROVIDER_CALLS_AT_ONCE)
    return not (pages > LONG_LISTING_PAGES and rounds_each < pages)
