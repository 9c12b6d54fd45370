"""Is the router up? One unauthenticated GET of its version endpoint, with the task's TLS trust.

Used while a run goes on: the probe that checks the deploy secret is for before a launch, whereas this never
touches the operator channel, so it cannot disturb the channel the run is using.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path

from mephisto_core.errors import MephistoError
from mephisto_core.router import VERSION_PATH


class RouterUnreachable(MephistoError):
    """The router did not answer its version endpoint with 200."""


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verify certificates and host names against the system's CAs, or only against `ca_file` when given."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)


def check_router_answers(base_url: str, *, ca_file: Path | None, timeout: float) -> None:
    """Return when GET `base_url`__mephisto/version answers 200; raise RouterUnreachable saying why not."""
    url = base_url.rstrip("/") + VERSION_PATH
    context = tls_context(ca_file) if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            response.read(4096)
    except urllib.error.HTTPError as exc:
        raise RouterUnreachable(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise RouterUnreachable(f"{url}: {reason}") from None
