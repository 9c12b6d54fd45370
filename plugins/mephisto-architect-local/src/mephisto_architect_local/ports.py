"""Can the router listen on (host, port), and the errors a user sees when it cannot."""

from __future__ import annotations

import errno
import socket

from mephisto_core.errors import ConfigError

PORT_KEY = "architect.port"
HOST_KEY = "architect.host"


def check_can_listen(host: str, port: int) -> None:
    """Raise ConfigError naming `architect.port` or `architect.host` unless a server could listen there now.

    Binds with SO_REUSEADDR, as asyncio servers do on Unix, so a port held only by connections in TIME_WAIT
    counts as free, exactly as it would for the router. Port 0 always passes (the system picks a free one).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on host {host!r}: {exc.strerror}", key=HOST_KEY) from exc
    family, socktype, proto, _, address = infos[0]
    with socket.socket(family, socktype, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise bind_error(host, port, exc) from exc


def bind_error(host: str, port: int, exc: OSError) -> ConfigError:
    """Turn a failed bind of the router into a ConfigError that says what to change."""
    if is_address_in_use(exc):
        return port_busy_error(host, port)
    if exc.errno == errno.EACCES:
        return ConfigError(
            f"port {port} needs administrator rights on this system; use a port above 1023 "
            f"or let the system pick one with architect.port=0",
            key=PORT_KEY,
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError(
            f"{host!r} is not an address of this machine; use 127.0.0.1 (this computer only) "
            f"or 0.0.0.0 (every interface)",
            key=HOST_KEY,
        )
    return ConfigError(f"cannot listen on {host}:{port}: {exc}", key=PORT_KEY)


def port_busy_error(host: str, port: int) -> ConfigError:
    """The ConfigError for a port another program holds, with what to do about it."""
    return ConfigError(
        f"port {port} on {host} is already in use by another program. "
        f"Stop that program, choose another port, or let the system pick a free one with architect.port=0",
        key=PORT_KEY,
    )


def is_address_in_use(exc: OSError) -> bool:
    """Whether a bind failed because the address is taken."""
    return exc.errno == errno.EADDRINUSE or "address already in use" in str(exc).lower()
