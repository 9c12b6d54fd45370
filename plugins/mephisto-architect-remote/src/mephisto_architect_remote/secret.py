"""Read the router's deploy secret from the environment variable or file the task names.

The secret stays out of the task file, the command line and every log line: only its source is ever printed.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from mephisto_architect_remote.args import RemoteArchitectArgs
from mephisto_core.errors import ConfigError

logger = logging.getLogger(__name__)

#: A secret shorter than this is refused: it would be guessed by anyone who can reach the router.
MIN_SECRET_CHARS = 16


def secret_source(args: RemoteArchitectArgs) -> str:
    """Where the secret comes from, in words (safe to print)."""
    if args.secret_file is not None:
        return f"the file {args.secret_file}"
    return f"the environment variable {args.secret_env}"


def read_deploy_secret(args: RemoteArchitectArgs, environ: Mapping[str, str] | None = None) -> str:
    """The deploy secret, stripped of surrounding white space; ConfigError saying what to do when it is missing."""
    if args.secret_file is not None:
        return _from_file(args.secret_file)
    env = os.environ if environ is None else environ
    value = env.get(args.secret_env, "").strip()
    if not value:
        raise ConfigError(
            f"the environment variable {args.secret_env} is not set: export it with the router's deploy secret "
            "(the value in the server's secret file) before running mephisto, or name a file with "
            "architect.secret_file",
            key="architect.secret_env",
        )
    return _long_enough(value, f"the environment variable {args.secret_env}", "architect.secret_env")


def _from_file(path: Path) -> str:
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"the secret file {path} does not exist", key="architect.secret_file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the secret file {path}: {exc}", key="architect.secret_file") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Not an error: a shared lab machine may rely on group permissions on purpose. But it should be deliberate.
        logger.warning("the secret file %s can be read by other users; chmod 600 %s", path, path)
    value = text.strip()
    if not value:
        raise ConfigError(f"the secret file {path} is empty", key="architect.secret_file")
    if "\n" in value:
        raise ConfigError(
            f"the secret file {path} holds more than one line; put the deploy secret alone on one line",
            key="architect.secret_file",
        )
    return _long_enough(value, f"the secret file {path}", "architect.secret_file")


def _long_enough(value: str, source: str, key: str) -> str:
    if len(value) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"the deploy secret in {source} is {len(value)} characters long; use at least {MIN_SECRET_CHARS} "
            "random ones (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')",
            key=key,
        )
    return value
