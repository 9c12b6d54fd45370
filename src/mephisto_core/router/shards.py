"""Several router processes serving one port: which connection ids each hands out.

The local architect can start `router_processes` routers that share the worker port (`SO_REUSEPORT`: the kernel
spreads new connections over them), each with a channel of its own to the operator. Router `index` of `count`
numbers its worker sockets index + 1, index + 1 + count, index + 1 + 2 * count, ... so that the ids of all the
routers never collide and the operator sends each envelope down the channel of the router that holds its socket.
One router alone is shard 0 of 1 and numbers its sockets 1, 2, 3, ...
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    """Router `index` (0-based) of `count` routers sharing one worker port."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"the number of routers must be at least 1, not {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"router index {self.index} is not between 0 and {self.count - 1}")

    def connection_ids(self) -> Iterator[int]:
        """This router's connection ids, in the order it hands them out."""
        return itertools.count(self.index + 1, self.count)

    def owner_of(self, conn_id: int) -> int:
        """The index of the router among `count` that handed out `conn_id`."""
        return (conn_id - 1) % self.count

    def as_list(self) -> list[int]:
        """`[index, count]`, as the channel's `hello` carries it."""
        return [self.index, self.count]


def parse_shard(text: str) -> Shard:
    """`"K/N"` (router K of N, K from 0) as a Shard; ValueError naming what is wrong."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise ValueError(f"expected K/N (router K of N, K counted from 0), got {text!r}")
    return Shard(int(match.group(1)), int(match.group(2)))


def shard_of_hello(value: object) -> Shard | None:
    """The shard a channel `hello` names (`"shard": [index, count]`); Shard() when it names none (a router from
    before shards, or one alone), None when the value is malformed."""
    if value is None:
        return Shard()
    if not (isinstance(value, list) and len(value) == 2 and all(type(part) is int for part in value)):
        return None
    try:
        return Shard(value[0], value[1])
    except ValueError:
        return None
