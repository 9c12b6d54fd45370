"""The `[architect]` section of a task that uses `type = "remote"`."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from mephisto_core.abstractions import ArchitectArgs

DEFAULT_SECRET_ENV = "MEPHISTO_ROUTER_SECRET"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RemoteArchitectArgs(ArchitectArgs):
    """Where the lab's router runs, and how the operator proves it may deploy a task to it.

    The deploy secret itself is never written here: the task file names the environment variable or the file
    that holds it, so the task file can be shared and committed.
    """

    url: str = Field(
        description=(
            "The router's public base URL, as workers open it, e.g. https://tasks.example.org/. "
            "http:// works on a trusted network only (workers' answers and the deploy secret travel unencrypted)."
        ),
    )
    secret_env: str = Field(
        default=DEFAULT_SECRET_ENV,
        description="Name of the environment variable holding the router's deploy secret (not the secret itself).",
    )
    secret_file: Path | None = Field(
        default=None,
        description=(
            "A file holding the deploy secret instead of an environment variable (one line; readable by you "
            "only). Relative paths are relative to the task file; ~ is your home folder."
        ),
    )
    ca_file: Path | None = Field(
        default=None,
        description=(
            "PEM file of the certificate authority that signed the router's certificate, for a private CA or a "
            "self-signed certificate. Leave unset for a certificate from a public CA (Let's Encrypt)."
        ),
    )
    probe_timeout_seconds: float = Field(
        default=10,
        gt=0,
        le=300,
        allow_inf_nan=False,
        description="How long to wait for the router to answer when checking it before a launch.",
    )
    give_up_after_seconds: float = Field(
        default=900,
        ge=0,
        le=7 * 24 * 3600,  # a week: longer is a typo, and 0 already means for ever
        allow_inf_nan=False,
        description=(
            "Stop the run when the router has not answered for this long (the operator reconnects on its own "
            "until then; workers' pages wait and resend). 0 waits for ever."
        ),
    )

    @field_validator("url")
    @classmethod
    def _public_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https"):
            raise ValueError(
                "must start with https:// (or http:// on a trusted network), e.g. https://tasks.example.org/"
            )
        if not parts.hostname:
            raise ValueError(f"{value!r} names no host; write it as https://HOST/ or https://HOST:PORT/")
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number or out of range
        except ValueError as exc:
            raise ValueError(f"{value!r} has a bad port: {exc}") from None
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"{value!r} must be a plain base URL, without user, password, ?query or #fragment")
        # One spelling for the worker link and the derived channel URL: always ends with a slash.
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        return f"{parts.scheme}://{parts.netloc}{path}"

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an environment variable name (letters, digits and _); "
                "write the variable's name here, never the secret"
            )
        return value

    @field_validator("secret_file", "ca_file")
    @classmethod
    def _home_expanded(cls, value: Path | None) -> Path | None:
        # ~/... is the researcher's home, as in a shell; other relative paths are relative to the task file.
        return value.expanduser() if value is not None else None

    @model_validator(mode="after")
    def _one_secret_source(self) -> RemoteArchitectArgs:
        if self.secret_file is not None and "secret_env" in self.model_fields_set:
            raise ValueError("set secret_env or secret_file, not both: the deploy secret must come from one place")
        return self

    @property
    def is_https(self) -> bool:
        """Whether workers and the operator reach the router over TLS."""
        return self.url.startswith("https://")
