"""The boto3 `mturk` client of a requester, and MTurk errors turned into ProviderError with nothing secret in them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mephisto_core.abstractions import redact
from mephisto_core.errors import ProviderError

REGION = "us-east-1"
LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
#: For tests only: send every MTurk call to this URL (a local fake) instead of Amazon's endpoint.
ENDPOINT_ENV = "MEPHISTO_MTURK_ENDPOINT_URL"
#: Seconds boto3 waits to connect and to read one answer; the core gives a whole call `call_timeout_seconds`.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 30
#: botocore's adaptive mode retries throttling and 5xx answers and slows down when MTurk throttles.
MAX_ATTEMPTS = 5

T = TypeVar("T")


class MTurkTestSettings(BaseSettings):
    """The plugin's one setting, read from the environment like the core's (pydantic-settings)."""

    model_config = SettingsConfigDict(env_prefix="MEPHISTO_MTURK_", extra="ignore")

    endpoint_url: str | None = Field(
        default=None, description="For tests only: send MTurk calls to this URL (a local fake) instead of Amazon."
    )


def endpoint_override() -> str | None:
    """The test endpoint from MEPHISTO_MTURK_ENDPOINT_URL, or None (checked: an http(s) URL with a host)."""
    value = (MTurkTestSettings().endpoint_url or "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderError(f"{ENDPOINT_ENV}={value!r} is not an http(s) URL; it is for tests only, unset it")
    return value.rstrip("/")


def endpoint_url(sandbox: bool) -> str:
    """Where this process sends MTurk calls: the test override, or Amazon's sandbox or live endpoint."""
    return endpoint_override() or (SANDBOX_ENDPOINT if sandbox else LIVE_ENDPOINT)


def make_client(credentials: Mapping[str, Any], sandbox: bool) -> Any:
    """A boto3 MTurk client for a requester's stored credentials (key pair or profile)."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=REGION,
        retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )
    profile = credentials.get("profile")
    if profile:
        try:
            session = boto3.Session(profile_name=str(profile), region_name=REGION)
        except Exception as exc:  # botocore's ProfileNotFound and friends
            raise ProviderError(f"AWS profile {profile!r} cannot be used: {exc}") from None
    else:
        key_id, secret = credentials.get("access_key_id"), credentials.get("secret_access_key")
        if not key_id or not secret:
            raise ProviderError(
                "the MTurk requester has neither a key pair nor a profile; register it again: "
                "MEPHISTO_SECRET_SECRET_ACCESS_KEY=... mephisto register mturk NAME access_key_id=..."
            )
        session = boto3.Session(aws_access_key_id=str(key_id), aws_secret_access_key=_plain(secret), region_name=REGION)
    return session.client("mturk", endpoint_url=endpoint_url(sandbox), config=config)


def _plain(value: Any) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if callable(getter) else value)


def secret_values(credentials: Mapping[str, Any]) -> list[str]:
    """The credential values that must never appear in a message."""
    secret = credentials.get("secret_access_key")
    return [_plain(secret)] if secret else []


def error_code(exc: BaseException) -> str:
    """MTurk's error code of a botocore ClientError (`RequestError`, `ServiceFault`), or ''."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    """The message MTurk gave with a ClientError, or the exception's text."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = response.get("Error", {}).get("Message")
        if message:
            return str(message)
    return str(exc)


def is_client_error(exc: BaseException) -> bool:
    """True for an answer MTurk gave (a botocore ClientError), False for a network or local failure."""
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError)


def call(what: str, fn: Callable[..., T], secrets: list[str], **params: Any) -> T:
    """Run one MTurk call; any failure becomes a ProviderError saying `what` failed and why, secrets redacted."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**params)
    except ClientError as exc:
        code = error_code(exc) or "error"
        raise MTurkError(redact(f"MTurk refused to {what}: {code}: {error_message(exc)}", secrets), code) from exc
    except BotoCoreError as exc:
        raise MTurkError(redact(f"could not reach MTurk to {what}: {exc}", secrets), "") from exc


class MTurkError(ProviderError):
    """A failed MTurk call: `code` is MTurk's error code ('RequestError', 'ServiceFault'), '' when unreachable."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def mturk_message(self) -> str:
        """MTurk's own message, when MTurk answered."""
        cause = self.__cause__
        return error_message(cause) if cause is not None and is_client_error(cause) else ""


#: The most items MTurk gives in one page of a list call (its maximum `MaxResults`).
PAGE_SIZE = 100


def pages(fn: Callable[..., dict[str, Any]], key: str, secrets: list[str], what: str, **params: Any) -> Iterator[Any]:
    """Every item of a paginated MTurk list call (`NextToken`, PAGE_SIZE per page)."""
    token: str | None = None
    while True:
        page_params = dict(params, MaxResults=PAGE_SIZE)
        if token:
            page_params["NextToken"] = token
        page = call(what, fn, secrets, **page_params)
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return
