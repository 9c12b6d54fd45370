"""The roster: the known workers of an in-house study and their secret link tokens, in `roster.toml`.

The file lives in the provider's data dir (`<MEPHISTO_DATA_DIR>/providers/inhouse/roster.toml`), is always
written whole to a temporary file and renamed over the old one (readers never see half a file), and has mode
0600 because the tokens are secrets. Changes go through `edit_roster`, which holds a lock file so two commands
run at once cannot lose each other's workers.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import secrets
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from mephisto_core.errors import ProviderError

PROVIDER_TYPE = "inhouse"  # the `[provider] type`, and the folder name under <data_dir>/providers/
ROSTER_NAME = "roster.toml"
LOCK_NAME = "roster.lock"
FORMAT_VERSION = 1
MAX_NAME_LENGTH = 64
MAX_EMAIL_LENGTH = 254
TOKEN_BYTES = 24  # secrets.token_urlsafe(24): 32 characters, 192 random bits
_NAME_PATTERN = re.compile(r"[A-Za-z0-9._@-]+")
NAME_RULE = f"1 to {MAX_NAME_LENGTH} characters, only letters A-Z a-z, digits and . _ - @"


@dataclass(frozen=True)
class RosterWorker:
    """One known worker: the name they work under, their link token, and an optional email to send it to."""

    name: str
    token: str
    email: str | None = None
    added_at: str = ""  # UTC, ISO 8601; when the current token was made


def roster_path(data_dir: Path) -> Path:
    """Where the roster of the in-house provider whose data dir is `data_dir` lives."""
    return Path(data_dir) / ROSTER_NAME


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a worker name (a phrase to put after the name), or None when it can."""
    if not name:
        return f"is empty; a worker name has {NAME_RULE}"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long; a worker name has {NAME_RULE}"
    if not _NAME_PATTERN.fullmatch(name):
        return f"holds characters that are not allowed; a worker name has {NAME_RULE}"
    return None


def email_problem(email: str) -> str | None:
    """Why `email` is not a plausible address (a phrase to put after it), or None.

    Only the shape is checked (one @ with text on both sides, no spaces): the address is stored for the
    researcher's own mailing, never used by Mephisto.
    """
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain or any(ch.isspace() for ch in email):
        return "is not an email address (expected something like name@example.org)"
    if len(email) > MAX_EMAIL_LENGTH:
        return f"is {len(email)} characters long; an email address has at most {MAX_EMAIL_LENGTH}"
    return None


def new_worker(name: str, email: str | None = None) -> RosterWorker:
    """A worker with a fresh random token, stamped now."""
    return RosterWorker(
        name=name,
        token=secrets.token_urlsafe(TOKEN_BYTES),
        email=email,
        added_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def read_roster(path: Path) -> dict[str, RosterWorker]:
    """The workers in the roster file at `path`, by name, in the order they were added (empty if no file)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ProviderError(f"cannot read the in-house roster {path}: {exc.strerror or exc}") from exc
    return parse_roster(raw, path)


def parse_roster(raw: bytes, path: Path) -> dict[str, RosterWorker]:
    """The workers in roster file content `raw`; `path` only names the file in errors."""
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except RecursionError:  # thousands of nested [ or { in a hand-edited file
        raise ProviderError(f"{path}: the in-house roster is nested too deeply to be a roster") from None
    except ValueError as exc:  # not UTF-8, not TOML, or an integer of over 4300 digits
        raise ProviderError(f"{path}: the in-house roster is not valid TOML ({exc})") from exc
    version = doc.get("version")
    if version != FORMAT_VERSION:
        raise ProviderError(
            f"{path}: the in-house roster has version {version!r}, this plugin reads version {FORMAT_VERSION}; "
            "upgrade mephisto-provider-inhouse"
        )
    table = doc.get("workers", {})
    if not isinstance(table, dict):
        raise ProviderError(f"{path}: key 'workers' must be a table of workers")
    return {name: _parse_entry(path, name, entry) for name, entry in table.items()}


def _parse_entry(path: Path, name: str, entry: Any) -> RosterWorker:
    where = f"{path}: worker {name!r}"
    problem = name_problem(name)
    if problem is not None:
        raise ProviderError(f"{where}: the name {problem}")
    if not isinstance(entry, dict):
        raise ProviderError(f"{where} must be a table with a token")
    token, email, added_at = entry.get("token"), entry.get("email"), entry.get("added_at", "")
    if not isinstance(token, str) or not token:
        raise ProviderError(f"{where} has no token; give the worker a new one: mephisto inhouse add-worker --rotate")
    if email is not None and not isinstance(email, str):
        raise ProviderError(f"{where}: 'email' must be a string")
    if not isinstance(added_at, str):
        raise ProviderError(f"{where}: 'added_at' must be a string")
    return RosterWorker(name=name, token=token, email=email, added_at=added_at)


def write_roster(path: Path, workers: dict[str, RosterWorker]) -> None:
    """Replace the roster at `path` with `workers`, atomically, with mode 0600, and durably (fsynced)."""
    doc: dict[str, Any] = {"version": FORMAT_VERSION, "workers": {}}
    for worker in workers.values():
        entry: dict[str, str] = {"token": worker.token, "added_at": worker.added_at}
        if worker.email is not None:
            entry["email"] = worker.email
        doc["workers"][worker.name] = entry
    data = tomli_w.dumps(doc).encode("utf-8")
    _ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the umask may only take bits away, but say exactly what the file gets
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)  # the rename itself must survive a power cut
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ProviderError(f"cannot write the in-house roster {path}: {exc.strerror or exc}") from exc


@contextmanager
def edit_roster(path: Path) -> Iterator[dict[str, RosterWorker]]:
    """Hold the roster's lock; yield its workers to change in place; write them back when the block ends
    without an error (an error leaves the file as it was)."""
    _ensure_private_dir(path.parent)
    lock_path = path.with_name(LOCK_NAME)
    try:
        lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ProviderError(f"cannot open the in-house roster lock {lock_path}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        workers = read_roster(path)
        yield workers
        write_roster(path, workers)
    finally:
        os.close(lock_fd)  # closing releases the lock


def _ensure_private_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ProviderError(f"cannot create the in-house provider's folder {directory}: {exc.strerror or exc}") from exc


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
