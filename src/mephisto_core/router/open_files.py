"""The process's open-file limit, raised so one router can hold thousands of worker sockets.

Every worker page is one socket, and each is a file descriptor. Shells commonly start programs with a soft
limit of 1,024 (the hard limit is usually far higher), which would cap a run at about a thousand workers with
"too many open files" errors; any process may raise its soft limit up to its hard limit without privileges.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# Far more sockets than one router can serve; a soft limit above this is left alone.
WANTED_OPEN_FILES = 65_536


def raise_open_file_limit(wanted: int = WANTED_OPEN_FILES) -> int | None:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (never above the hard limit); return the soft limit now.

    Returns None where the platform has no such limit (Windows).
    """
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:  # e.g. macOS refuses above OPEN_MAX
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
    if soft != resource.RLIM_INFINITY and soft < 4096:
        log.warning(
            "this process may open only %d files, so the router can hold at most about that many workers; "
            "raise the hard limit (ulimit -Hn, or LimitNOFILE= for a systemd service) for more",
            soft,
        )
    return int(soft)
