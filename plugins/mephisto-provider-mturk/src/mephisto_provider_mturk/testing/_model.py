"""botocore's MTurk service model as the fake's schema: request checks and response checks.

The fake checks every request against the input shape of its operation (required members,
types, enums, lengths, patterns) the way the service does, and every answer it builds against the
output shape, so a member the real service would not send never reaches a test.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from ._errors import MTurkFault, request_error

TARGET_PREFIX = "MTurkRequesterServiceV20170117"


@cache
def service_model() -> ServiceModel:
    """The MTurk service model shipped with botocore (loaded once)."""
    session = botocore.session.get_session()
    return ServiceModel(session.get_service_data("mturk"), service_name="mturk")


def operation_model(name: str) -> OperationModel:
    """The operation model named `name`, or a RequestError naming the unknown operation."""
    model = service_model()
    if name not in model.operation_names:
        raise MTurkFault(
            f"Operation {name!r} is not part of {TARGET_PREFIX}",
            error_type="UnknownOperationException",
        )
    return model.operation_model(name)


def validate_input(operation: OperationModel, params: Any) -> None:
    """Raise a RequestError naming the first member of `params` the input shape refuses."""
    shape = operation.input_shape
    if shape is None:
        if params not in ({}, None):
            raise request_error(f"{operation.name} takes no parameters", "AWS.ParameterOutOfRange")
        return
    _check(shape, params, shape.name, strict=True)


def validate_output(operation: OperationModel, result: dict[str, Any]) -> None:
    """Fail loudly (AssertionError) when the fake builds an answer its output shape does not allow."""
    shape = operation.output_shape
    try:
        if shape is not None:
            _check(shape, result, shape.name, strict=True)
        elif result:
            raise request_error("no output expected", "AWS.ParameterOutOfRange")
    except MTurkFault as fault:  # a bug in the fake, not the caller's fault
        raise AssertionError(f"fake MTurk built a bad {operation.name} answer: {fault.message}") from None


def _fail(where: str, problem: str) -> MTurkFault:
    code = "AWS.MissingParameters" if "required" in problem else "AWS.ParameterOutOfRange"
    return request_error(f"Value at '{where}' failed to satisfy constraint: {problem}", code)


def _check(shape: Shape, value: Any, where: str, *, strict: bool) -> None:
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, where, strict=strict)
    elif kind == "list":
        if not isinstance(value, list):
            raise _fail(where, "Member must be a list")
        _check_range(shape, len(value), where, "Member must have length")
        member = shape.member
        for index, item in enumerate(value):
            _check(member, item, f"{where}.{index + 1}", strict=strict)
    elif kind == "string":
        _check_string(shape, value, where)
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, "Member must be an integer")
        _check_range(shape, value, where, "Member must have value")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _fail(where, "Member must be a boolean")
    elif kind == "timestamp":
        # botocore's JSON protocol sends timestamps as epoch seconds.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, "Member must be a timestamp in epoch seconds")
    else:  # pragma: no cover - MTurk's model uses no other shape types
        raise _fail(where, f"unsupported shape type {kind}")


def _check_structure(shape: Shape, value: Any, where: str, *, strict: bool) -> None:
    assert isinstance(shape, StructureShape)
    if not isinstance(value, dict):
        raise _fail(where, "Member must be a structure")
    for name in shape.required_members:
        if value.get(name) is None:
            raise _fail(f"{where}.{name}", "Member is required and must not be null")
    for name, item in value.items():
        if name not in shape.members:
            if strict:
                raise _fail(f"{where}.{name}", "Member is not part of the shape")
            continue
        if item is None:
            continue
        _check(shape.members[name], item, f"{where}.{name}", strict=strict)


def _check_string(shape: Shape, value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise _fail(where, "Member must be a string")
    enum = shape.enum
    if enum and value not in enum:
        raise _fail(where, f"Member must satisfy enum value set: [{', '.join(enum)}]")
    _check_range(shape, len(value), where, "Member must have length")
    pattern = shape.metadata.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        raise _fail(where, f"Member must satisfy regular expression pattern: {pattern}")


def _check_range(shape: Shape, number: int, where: str, what: str) -> None:
    low = shape.metadata.get("min")
    high = shape.metadata.get("max")
    if low is not None and number < low:
        raise _fail(where, f"{what} greater than or equal to {low}")
    if high is not None and number > high:
        raise _fail(where, f"{what} less than or equal to {high}")
