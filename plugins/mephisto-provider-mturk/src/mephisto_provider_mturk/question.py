"""The ExternalQuestion XML a HIT shows (the worker page in a frame) and the answer XML MTurk keeps."""

from __future__ import annotations

from urllib.parse import urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

EXTERNAL_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"
)
ANSWER_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"
#: MTurk's limit on the URL of an ExternalQuestion.
MAX_URL_LENGTH = 2048


def external_question(url: str, frame_height: int) -> str:
    """The ExternalQuestion document for `url` (escaped: a `&` in the query must be `&amp;` in XML)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the worker URL {url!r} is not an http(s) URL MTurk could open")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the worker URL is {len(url)} characters long; MTurk takes at most {MAX_URL_LENGTH}")
    return (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}">'
        f"<ExternalURL>{escape(url)}</ExternalURL>"
        f"<FrameHeight>{int(frame_height)}</FrameHeight>"
        "</ExternalQuestion>"
    )


def parse_answer(xml: str) -> dict[str, str]:
    """The fields of a QuestionFormAnswers document ({QuestionIdentifier: FreeText}); {} for empty input.

    Raises ValueError naming the problem for a document that is not QuestionFormAnswers.
    """
    if not xml.strip():
        return {}
    if "<!DOCTYPE" in xml or "<!ENTITY" in xml:
        raise ValueError("the answer XML declares a DTD or entities, which MTurk answers never do")
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise ValueError(f"the answer is not XML: {exc}") from None
    if _local(root.tag) != "QuestionFormAnswers":
        raise ValueError(f"the answer's root element is {_local(root.tag)!r}, not 'QuestionFormAnswers'")
    fields: dict[str, str] = {}
    for answer in root:
        if _local(answer.tag) != "Answer":
            continue
        name = value = None
        for child in answer:
            if _local(child.tag) == "QuestionIdentifier":
                name = child.text or ""
            elif _local(child.tag) == "FreeText":
                value = child.text or ""
        if name is not None:
            fields[name] = value or ""
    return fields


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
