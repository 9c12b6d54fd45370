"""A test-only provider whose credentials are secret by declaration, not by name: `account_pin`, `passphrase`.

Its `validate_credentials` fails, on request, with the whole credentials dict in its message, as a careless
provider (or a platform's error body) would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import Field, SecretStr

from mephisto_core.abstractions import CrowdProvider, RequesterArgs
from mephisto_core.errors import ProviderError
from mephisto_core.hookspecs import hookimpl

PROVIDER = "secretpay"
REFUSED_ACCOUNT = "refused"  # validate_credentials raises a ProviderError quoting every credential
CRASHING_ACCOUNT = "crash"  # validate_credentials raises a RuntimeError quoting them as JSON


class SecretRequesterArgs(RequesterArgs):
    """Credentials of the test provider: two SecretStr fields and one plain-typed field marked secret."""

    account_name: str = Field(description="The account, shown by `mephisto requesters`.")
    account_pin: SecretStr = Field(description="The account's PIN.")
    passphrase: SecretStr = Field(description="The passphrase that unlocks the account.")
    signing_salt: str | None = Field(
        default=None, json_schema_extra={"secret": True}, description="Salt for signed links (optional)."
    )


class SecretProvider(CrowdProvider):
    """Test provider with secret credentials."""

    type_name: ClassVar[str] = PROVIDER
    RequesterArgs: ClassVar[type[RequesterArgs]] = SecretRequesterArgs

    @classmethod
    def validate_credentials(cls, credentials: Mapping[str, Any]) -> dict[str, Any]:
        if credentials.get("account_name") == REFUSED_ACCOUNT:
            raise ProviderError(f"the platform refused the account {dict(credentials)!r}")
        if credentials.get("account_name") == CRASHING_ACCOUNT:
            raise RuntimeError(f"HTTP 401 for {json.dumps(dict(credentials))}")
        return super().validate_credentials(credentials)


@hookimpl
def mephisto_register_providers(register: Callable[[type[CrowdProvider]], None]) -> None:
    register(SecretProvider)
