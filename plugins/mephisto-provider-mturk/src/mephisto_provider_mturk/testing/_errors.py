"""The errors the fake MTurk answers with, shaped the way the real service sends them."""

from __future__ import annotations

import time


class MTurkFault(Exception):
    """An error answer of the requester API: an AWS JSON 1.1 error body and an HTTP status.

    `error_type` is the `__type` botocore turns into `ClientError.response["Error"]["Code"]`
    (`RequestError`, `ServiceFault`, `ThrottlingException`, ...). `turk_code` is MTurk's own
    `TurkErrorCode` (for example `AWS.MechanicalTurk.HitAlreadyExists`).
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: str = "RequestError",
        turk_code: str | None = None,
        status: int = 400,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.turk_code = turk_code
        self.status = status

    def body(self) -> dict[str, str]:
        """The JSON body of the answer; MTurk ends its messages with the request's epoch millis."""
        stamped = f"{self.message} ({int(time.time() * 1000)})"
        body = {"__type": self.error_type, "Message": stamped}
        if self.error_type in ("RequestError", "ServiceFault"):
            # ServiceFault and RequestError carry TurkErrorCode in the service model.
            body["TurkErrorCode"] = self.turk_code or self.error_type
        else:
            # Generic AWS errors (throttling, auth) spell the member in lower case.
            body = {"__type": self.error_type, "message": self.message}
        return body


def request_error(message: str, turk_code: str) -> MTurkFault:
    """A 400 RequestError: the caller asked for something MTurk refuses."""
    return MTurkFault(message, error_type="RequestError", turk_code=turk_code)


def insufficient_funds() -> MTurkFault:
    """The answer when the prepaid balance cannot pay for a HIT, an approval or a bonus."""
    return request_error(
        "This Requester has insufficient funds in their account to complete this transaction. "
        "Please visit https://requester.mturk.com/prepayments/new to purchase Prepaid HITs.",
        "AWS.MechanicalTurk.InsufficientFunds",
    )


def throttled() -> MTurkFault:
    """What AWS sends when a caller exceeds its request rate (botocore retries it)."""
    return MTurkFault("Rate exceeded", error_type="ThrottlingException", status=400)


def service_fault() -> MTurkFault:
    """A transient 500 from the service (botocore retries it)."""
    return MTurkFault(
        "Amazon Mechanical Turk is temporarily unable to process your request. Try your call again.",
        error_type="ServiceFault",
        turk_code="AWS.ServiceUnavailable",
        status=500,
    )
