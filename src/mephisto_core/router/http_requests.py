"""Reading the router's requests so that plain HTTP requests with a body get an answer, not a hang-up.

`websockets` reads every request as a WebSocket opening handshake, and a handshake has no body: a request that
announces one (`Content-Length` above 0, or `Transfer-Encoding`) makes it close the connection without a word.
A browser posting a form, `curl -d`, or a health checker's POST would see "connection reset" where
docs/protocol.md promises `405 Method Not Allowed`. `BodyAwareConnection` reads the request head itself,
remembers that a body was announced (the router then answers 405, or 400 for a GET), and throws the body away
unread; the answer always closes the connection, so the body never has to be understood.
"""

from __future__ import annotations

import http
from collections.abc import Generator
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import HeaderLineTooLong, InvalidMessage, RequestLineTooLong, TooManyHeaders
from websockets.http11 import Request, parse_headers, parse_line
from websockets.protocol import CONNECTING, Protocol
from websockets.server import ServerProtocol


class BodyAwareConnection(ServerConnection):
    """A `ServerConnection` whose handshake reader accepts a request that carries a body.

    `request_has_body` tells `process_request` that the request announced a body, which no route reads.
    """

    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        super().__init__(protocol, *args, **kwargs)
        self.request_has_body = False
        # No byte has been received yet (the transport is not connected), so swapping the parser loses nothing.
        protocol.parser = self._parse(protocol)
        next(protocol.parser)

    def _parse(self, protocol: ServerProtocol) -> Generator[None]:
        # The shape of websockets' own ServerProtocol.parse, with a request reader that tolerates a body.
        assert protocol.state is CONNECTING
        try:
            request, has_body = yield from _read_request_head(protocol)
        except RequestLineTooLong as exc:
            yield from _answer_bad_head(protocol, exc, http.HTTPStatus.REQUEST_URI_TOO_LONG)
            return
        except (HeaderLineTooLong, TooManyHeaders) as exc:
            yield from _answer_bad_head(protocol, exc, http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return
        except UnicodeDecodeError as exc:  # a method or path that is not ASCII (URLs percent-encode the rest)
            yield from _answer_bad_head(
                protocol, exc, http.HTTPStatus.BAD_REQUEST, "The request line is not ASCII; percent-encode the URL.\n"
            )
            return
        except Exception as exc:  # anything that is not HTTP: hang up, as websockets does
            protocol.handshake_exc = InvalidMessage("did not receive a valid HTTP request")
            protocol.handshake_exc.__cause__ = exc
            protocol.send_eof()
            protocol.parser = protocol.discard()
            next(protocol.parser)
            yield
            return
        self.request_has_body = has_body
        protocol.events.append(request)
        if has_body:
            # The answer closes the connection; until it is sent, the body is read and dropped so it can
            # neither fill memory nor be taken for WebSocket frames.
            while not (yield from protocol.reader.at_eof()):
                protocol.reader.discard()
            yield
            return
        yield from Protocol.parse(protocol)


def _read_request_head(protocol: ServerProtocol) -> Generator[None, None, tuple[Request, bool]]:
    """The request line and headers, like websockets' `Request.parse`, and whether a body follows."""
    read_line = protocol.reader.read_line
    try:
        request_line = yield from parse_line(read_line, RequestLineTooLong)
    except EOFError as exc:
        raise EOFError("connection closed while reading HTTP request line") from exc
    try:
        raw_method, raw_path, raw_protocol = request_line.split(b" ", 2)
    except ValueError:
        raise ValueError(f"invalid HTTP request line: {bytes(request_line)!r}") from None
    if raw_protocol not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise ValueError(f"unsupported protocol: {bytes(raw_protocol)!r}")
    method = raw_method.decode("ascii")
    path = raw_path.decode("ascii")
    headers = yield from parse_headers(read_line)
    has_body = "Transfer-Encoding" in headers or not set(headers.get_all("Content-Length")) <= {"0"}
    return Request(path, headers, method, raw_protocol.decode("ascii")), has_body


def _answer_bad_head(
    protocol: ServerProtocol, exc: Exception, status: http.HTTPStatus, text: str | None = None
) -> Generator[None]:
    protocol.handshake_exc = exc
    protocol.send_response(protocol.reject(status, text or f"Failed to open a WebSocket connection: {exc}.\n"))
    yield
