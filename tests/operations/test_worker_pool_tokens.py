"""Agent tokens: a batch's tokens, made from one read of the random source, look like the one-by-one kind; each
starts with its time, so later tokens sort after earlier ones (the token index's inserts stay together)."""

from __future__ import annotations

import re
import time

from mephisto_core.operations.run.worker_pool import WorkerPool

TOKEN = re.compile(r"([0-9a-f]{12})([A-Za-z0-9_-]{24})")


def test_a_batch_of_tokens_has_the_form_of_single_tokens_and_no_two_alike() -> None:
    before = time.time_ns() // 1_000_000
    single = WorkerPool.new_token()
    batch = WorkerPool.new_tokens(500)
    after = time.time_ns() // 1_000_000

    assert TOKEN.fullmatch(single)
    assert len(batch) == 500
    matches = [TOKEN.fullmatch(token) for token in batch]
    assert all(matches)
    assert len(set(batch) | {single}) == 501
    assert WorkerPool.new_tokens(0) == []
    assert all(before <= int(match.group(1), 16) <= after for match in matches if match)
    # Every position of the secret varies: no fixed byte (a slicing mistake would repeat or zero a chunk).
    for position in range(24):
        assert len({match.group(2)[position] for match in matches if match}) > 20


def test_later_tokens_sort_after_earlier_ones() -> None:
    first = WorkerPool.new_tokens(50)
    time.sleep(0.002)
    second = WorkerPool.new_tokens(50)
    assert max(first) < min(second)
