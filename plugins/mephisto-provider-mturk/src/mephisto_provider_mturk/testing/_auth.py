"""SigV4 checking: the request must be signed by an account the fake knows, with its secret."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ._errors import MTurkFault
from ._records import Account

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[^,]+), ?Signature=(?P<signature>[0-9a-f]+)"
)
SERVICE = "mturk-requester"


def _refused(error_type: str, message: str) -> MTurkFault:
    return MTurkFault(message, error_type=error_type, status=400)


def authenticate(
    accounts: Mapping[str, Account], method: str, url: str, headers: Mapping[str, str], body: bytes
) -> str:
    """The access key id that signed the request, or the error AWS answers an unsigned/forged one with.

    `headers` must have lower-case names.
    """
    match = _AUTHORIZATION.fullmatch(headers.get("authorization", "").strip())
    if match is None:
        raise _refused("MissingAuthenticationTokenException", "Missing Authentication Token")
    account = accounts.get(match["key"])
    if account is None:
        raise _refused("UnrecognizedClientException", "The security token included in the request is invalid.")
    if match["service"] != SERVICE:
        raise _refused(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{SERVICE}'.",
        )
    amz_date = headers.get("x-amz-date", "")
    signed = match["signed"].split(";")
    request = AWSRequest(
        method=method,
        url=url,
        data=body,
        headers={name: headers.get(name, "") for name in signed},
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(account.access_key_id, account.secret_access_key), SERVICE, match["region"])
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise _refused(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )
    return account.access_key_id
