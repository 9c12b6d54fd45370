"""`probe_router`: check, before a run starts, that a standalone router is reachable, compatible and ours.

Three steps, each failure one actionable sentence (a ConfigError): the host resolves and answers; TLS verifies
(against the system's CAs or `ca_file`); `GET /__mephisto/version` is a mephisto router speaking this protocol;
the channel handshake with the deploy secret is accepted. The last step opens the channel as a probe
(`/_channel?probe=1`): the router answers who it is and closes, leaving a connected operator alone.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from mephisto_core import __version__
from mephisto_core.errors import ConfigError
from mephisto_core.router.versions import PROTOCOL_VERSION, VERSION_PATH

CHANNEL_PATH = "/_channel"  # as server.CHANNEL_PATH, without importing the server
T = TypeVar("T")


@dataclass(frozen=True)
class RouterInfo:
    """What a probe learnt: the router's URLs, its version and protocol, and the build it serves (or None)."""

    url: str
    channel_url: str
    router_version: str
    protocol: int
    task: str | None


def router_urls(url: str) -> tuple[str, str]:
    """(base URL for pages, channel URL) from either: ``https://host[:port][/]`` or ``wss://host[:port]/_channel``."""
    parts = urlsplit(url.strip())
    schemes = {"https": ("https", "wss"), "http": ("http", "ws"), "wss": ("https", "wss"), "ws": ("http", "ws")}
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"{url!r} is not a router address; give https://HOST[:PORT]/ (or wss://HOST/_channel)")
    http_scheme, ws_scheme = schemes[parts.scheme]
    path = parts.path
    if path.endswith(CHANNEL_PATH):
        path = path[: -len(CHANNEL_PATH)]
    path = path.rstrip("/")
    base = urlunsplit((http_scheme, parts.netloc, path + "/", "", ""))
    channel = urlunsplit((ws_scheme, parts.netloc, path + CHANNEL_PATH, "", ""))
    return base, channel


def _tls(ca_file: Path | None) -> ssl.SSLContext:
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(f"the CA bundle {ca_file} does not exist", key="ca_file")
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the CA bundle {ca_file}: {exc}", key="ca_file") from exc


def _explain(exc: BaseException, where: str, timeout: float) -> ConfigError:
    """One sentence for a failure to reach the router."""
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    host = urlsplit(where).hostname
    if isinstance(reason, socket.gaierror):
        return ConfigError(f"cannot find the host {host!r} (DNS lookup failed: {reason.strerror}); check the address")
    if isinstance(reason, ConnectionRefusedError):
        return ConfigError(
            f"nothing listens at {where} (connection refused): start `mephisto router serve` there and open its port"
        )
    if isinstance(reason, ssl.SSLCertVerificationError):
        return ConfigError(
            f"the TLS certificate of {where} is not trusted ({reason.verify_message}): give the CA bundle that signed "
            "it as ca_file, or serve a certificate from a public CA"
        )
    if isinstance(reason, ssl.SSLError):
        return ConfigError(
            f"the TLS handshake with {where} failed ({reason.reason or reason}): if the router serves plain HTTP "
            "(no --certfile), use an http:// address or put TLS in front of it"
        )
    if isinstance(reason, (http.client.RemoteDisconnected, ConnectionResetError)) and where.startswith("http://"):
        return ConfigError(
            f"{where} closed the connection without an answer: if the router serves TLS (--certfile), use https://"
        )
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return ConfigError(f"{where} did not answer within {timeout:g} s; check the address and the firewall")
    return ConfigError(f"cannot reach {where}: {reason}")


def _fetch_version(base: str, context: ssl.SSLContext | None, timeout: float) -> dict[str, Any]:
    url = base.rstrip("/") + VERSION_PATH
    request = urllib.request.Request(url, headers={"User-Agent": f"mephisto-probe/{__version__}"})
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(request, timeout=timeout) as answer:
            body = answer.read(64 * 2**10)
    except urllib.error.HTTPError as exc:
        raise ConfigError(
            f"{url} answered HTTP {exc.code}: that address is not a mephisto router (or one older than protocol "
            f"{PROTOCOL_VERSION}); check the address and that `mephisto router serve` runs there"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise _explain(exc, base, timeout) from exc
    try:
        info = json.loads(body)
    except ValueError:
        info = None
    if not isinstance(info, dict) or "protocol" not in info or "router_version" not in info:
        raise ConfigError(f"{url} did not answer as a mephisto router does; check the address")
    return info


async def _open_probe_channel(channel_url: str, secret: str, context: ssl.SSLContext | None, timeout: float) -> Any:
    from websockets.asyncio.client import connect

    tls: dict[str, Any] = {"ssl": context} if channel_url.startswith("wss://") else {}
    async with connect(
        channel_url + "?probe=1",
        additional_headers={"Authorization": f"Bearer {secret}"},
        open_timeout=timeout,
        close_timeout=timeout,
        **tls,
    ) as ws:
        return await asyncio.wait_for(ws.recv(), timeout)


def _run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to the end from blocking code, also when this thread runs an event loop already."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mephisto-probe") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def _check_secret(channel_url: str, secret: str, context: ssl.SSLContext | None, timeout: float) -> None:
    # The asyncio client: websockets' threaded client now and then misses the handshake answer over TLS.
    from websockets.exceptions import InvalidStatus, WebSocketException

    try:
        frame = _run_coroutine(lambda: _open_probe_channel(channel_url, secret, context, timeout))
    except InvalidStatus as exc:
        if exc.response.status_code == 401:
            raise ConfigError(
                "the router refused the deploy secret: use the secret it was started with (its "
                "MEPHISTO_ROUTER_SECRET or --secret-file)"
            ) from exc
        raise ConfigError(
            f"the router's channel {channel_url} answered HTTP {exc.response.status_code}: a proxy in front of it "
            "may not pass WebSocket upgrades"
        ) from exc
    except (WebSocketException, OSError, TimeoutError) as exc:
        raise ConfigError(f"could not open the router's channel {channel_url}: {exc or type(exc).__name__}") from exc
    try:
        answer = json.loads(frame)
    except (TypeError, ValueError):
        answer = None
    if not (isinstance(answer, list) and answer and isinstance(answer[0], dict) and answer[0].get("event") == "probe"):
        raise ConfigError(f"the router's channel {channel_url} did not answer the probe; is it a mephisto router?")


def probe_router(url: str, secret: str, *, ca_file: Path | None = None, timeout: float = 10) -> RouterInfo:
    """Check that the router at `url` answers, speaks this protocol and accepts `secret`; ConfigError if not.

    Blocking (run it in a thread from async code). `url` is the router's https:// (or http://) address, or its
    channel URL. `ca_file` is a PEM bundle to trust instead of the system's CAs (self-signed or private CAs).
    """
    base, channel_url = router_urls(url)
    context = _tls(ca_file) if base.startswith("https://") else None
    info = _fetch_version(base, context, timeout)
    if info["protocol"] != PROTOCOL_VERSION:
        raise ConfigError(
            f"the router at {base} runs mephisto-core {info['router_version']} (protocol {info['protocol']}) and "
            f"this operator {__version__} (protocol {PROTOCOL_VERSION}): install the same mephisto-core version "
            "on both"
        )
    if not secret:
        raise ConfigError("the deploy secret is empty; give the secret the router was started with")
    _check_secret(channel_url, secret, context, timeout)
    task = info.get("task")
    return RouterInfo(
        url=base,
        channel_url=channel_url,
        router_version=str(info["router_version"]),
        protocol=int(info["protocol"]),
        task=task if isinstance(task, str) else None,
    )
