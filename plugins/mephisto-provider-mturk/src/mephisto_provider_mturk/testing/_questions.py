"""Question XML in, worker-facing URLs and QuestionFormAnswers XML out."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode, urlsplit
from xml.sax.saxutils import escape

from ._errors import request_error

ASSIGNMENT_ID_NOT_AVAILABLE = "ASSIGNMENT_ID_NOT_AVAILABLE"
_ANSWERS_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"
_KINDS = ("ExternalQuestion", "HTMLQuestion", "QuestionForm")
MAX_QUESTION_BYTES = 65535


def check_question(question: str, *, require_https: bool) -> str | None:
    """Refuse Question XML MTurk would refuse; return the ExternalURL of an ExternalQuestion."""
    if len(question.encode()) > MAX_QUESTION_BYTES:
        raise request_error(
            f"The Question is {len(question.encode())} bytes; at most {MAX_QUESTION_BYTES} are allowed.",
            "AWS.ParameterOutOfRange",
        )
    try:
        root = ET.fromstring(question)
    except ET.ParseError as error:
        raise request_error(
            f"The Question is not well-formed XML: {error}", "AWS.MechanicalTurk.XMLParseError"
        ) from None
    kind = root.tag.rsplit("}", 1)[-1]
    if kind not in _KINDS:
        raise request_error(
            f"The Question must be one of {', '.join(_KINDS)}, not {kind}.",
            "AWS.MechanicalTurk.XMLParseError",
        )
    children = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in root}
    if kind == "HTMLQuestion":
        if not children.get("HTMLContent"):
            raise request_error("An HTMLQuestion needs HTMLContent.", "AWS.ParameterOutOfRange")
        _check_frame_height(children)
    if kind != "ExternalQuestion":
        return None
    url = children.get("ExternalURL", "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise request_error(f"The ExternalURL {url!r} is not an absolute http(s) URL.", "AWS.ParameterOutOfRange")
    if require_https and parts.scheme != "https":
        raise request_error(f"The ExternalURL {url!r} must use https.", "AWS.ParameterOutOfRange")
    _check_frame_height(children)
    return url


def _check_frame_height(children: dict[str, str]) -> None:
    if not children.get("FrameHeight", "").isdigit():
        raise request_error(
            "The question needs a FrameHeight (a whole number of pixels, 0 for the full page).",
            "AWS.ParameterOutOfRange",
        )


def html_content(question: str) -> str | None:
    """The page of an HTMLQuestion (MTurk serves it itself), or None for other question kinds."""
    root = ET.fromstring(question)
    if root.tag.rsplit("}", 1)[-1] != "HTMLQuestion":
        return None
    for child in root:
        if child.tag.rsplit("}", 1)[-1] == "HTMLContent":
            return child.text or ""
    return None


def worker_url(external_url: str, params: dict[str, str]) -> str:
    """The ExternalURL with MTurk's query parameters appended after any it already has."""
    separator = "&" if urlsplit(external_url).query else "?"
    return f"{external_url}{separator}{urlencode(params)}"


def answers_xml(fields: list[tuple[str, str]]) -> str:
    """A QuestionFormAnswers document with one Answer per submitted form field (in form order)."""
    parts = [f'<?xml version="1.0" encoding="ASCII"?><QuestionFormAnswers xmlns="{_ANSWERS_NS}">']
    for name, value in fields:
        text = escape(value).encode("ascii", "xmlcharrefreplace").decode()
        label = escape(name).encode("ascii", "xmlcharrefreplace").decode()
        parts.append(f"<Answer><QuestionIdentifier>{label}</QuestionIdentifier><FreeText>{text}</FreeText></Answer>")
    parts.append("</QuestionFormAnswers>")
    return "".join(parts)


def parse_answers(answer: str) -> list[tuple[str, str]]:
    """The (QuestionIdentifier, FreeText) pairs of a QuestionFormAnswers document."""
    root = ET.fromstring(answer)
    pairs = []
    for item in root.findall(f"{{{_ANSWERS_NS}}}Answer"):
        name = item.findtext(f"{{{_ANSWERS_NS}}}QuestionIdentifier", "")
        value = item.findtext(f"{{{_ANSWERS_NS}}}FreeText", "")
        pairs.append((name, value))
    return pairs
