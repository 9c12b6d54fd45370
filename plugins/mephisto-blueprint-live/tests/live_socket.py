"""A worker page spoken to over the real `/ws` socket (no browser): hello, live messages, frames received."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit

from websockets.sync.client import ClientConnection, connect


class SocketWorker:
    """One page of worker `name` connected to the router at `link` (the launch's printed link)."""

    def __init__(self, link: str, name: str, token: str | None = None, hello: bool = True) -> None:
        parts = urlsplit(link)
        self.url = f"ws://{parts.netloc}/ws"
        self.name = name
        self.frames: list[dict[str, Any]] = []
        self._stack = ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(connect(self.url))
        self.hello: dict[str, Any] = {}
        self.token: str | None = None
        if hello:
            self.ws.send(json.dumps({"type": "hello", "id": 1, "params": {"worker_id": name}, "token": token}))
            self.hello = self.next_frame(lambda f: f.get("id") == 1)
            self.token = self.hello.get("token")

    def next_frame(self, match: Any, timeout: float = 15) -> dict[str, Any]:
        """The first frame (received or still to come) for which `match(frame)` is true."""
        for frame in self.frames:
            if match(frame):
                self.frames.remove(frame)
                return frame
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: no matching frame within {timeout} s; got {self.frames}")
            try:
                frame = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                continue
            if match(frame):
                return frame
            self.frames.append(frame)

    def live(self, kind: str, timeout: float = 15, **fields: Any) -> dict[str, Any]:
        """The next `live` push of `kind` whose data has `fields`."""
        frame = self.next_frame(
            lambda f: (
                f.get("type") == "live"
                and f["data"].get("kind") == kind
                and all(f["data"].get(k) == v for k, v in fields.items())
            ),
            timeout,
        )
        data: dict[str, Any] = frame["data"]
        return data

    def status(self, value: str, timeout: float = 15) -> None:
        self.next_frame(lambda f: f.get("type") == "status" and f.get("status") == value, timeout)

    def say(self, text: str) -> dict[str, Any]:
        """Wait for the turn, send `text`, and return the stored message's echo (sent after the commit)."""
        self.live("turn", yours=True)
        self.ws.send(json.dumps({"type": "live", "data": {"kind": "message", "text": text}}))
        return self.live("message", data={"text": text})

    def close(self) -> None:
        self._stack.close()
