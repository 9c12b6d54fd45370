"""Agent tokens: a batch's tokens, made from one read of the random source, look like the one-by-one kind."""

from __future__ import annotations

import re

from mephisto_core.operations.run.worker_pool import WorkerPool

URL_SAFE_24 = re.compile(r"[A-Za-z0-9_-]{24}")


def test_a_batch_of_tokens_has_the_form_of_single_tokens_and_no_two_alike() -> None:
    single = WorkerPool.new_token()
    batch = WorkerPool.new_tokens(500)

    assert URL_SAFE_24.fullmatch(single)
    assert len(batch) == 500
    assert all(URL_SAFE_24.fullmatch(token) for token in batch)
    assert len(set(batch) | {single}) == 501
    assert WorkerPool.new_tokens(0) == []
    # Every position of a token varies: no fixed byte (a slicing mistake would repeat or zero a chunk).
    for position in range(24):
        assert len({token[position] for token in batch}) > 20
