"""The readable summary of a submission: kinds, labels from field definitions, files in place of their field."""

from __future__ import annotations

from mephisto_core.review_app.summary import answer_summary, field_label

PHOTO = {"field": "photo", "name": "cat.png", "type": "image/png", "url": "/api/units/1/files/0?token=t"}
NOTES = {"field": "notes", "name": "notes.txt", "type": "text/plain", "url": "/api/units/1/files/1?token=t"}


def test_each_value_gets_its_kind_in_stored_order() -> None:
    outputs = {"b_text": "one\ntwo", "a_flag": False, "n": 2**70, "tags": ["x", 3], "none": None, "deep": {"k": [1]}}
    entries = answer_summary(outputs, [])
    assert [(e["field"], e["kind"]) for e in entries] == [
        ("b_text", "text"),
        ("a_flag", "yes_no"),
        ("n", "number"),
        ("tags", "choices"),
        ("none", "empty"),
        ("deep", "json"),
    ]
    assert entries[0]["text"] == "one\ntwo" and entries[1]["value"] is False
    assert entries[2]["text"] == str(2**70)  # exact: made here, never by the page's JSON parser
    assert entries[3]["items"] == ["x", "3"]
    assert entries[0]["label"] == "B text" and field_label("may-quote") == "May quote"


def test_files_replace_their_field_and_unnamed_file_fields_come_last() -> None:
    entries = answer_summary({"photo": "cat.png", "answer": "yes"}, [PHOTO, NOTES])
    assert [(e["field"], e["kind"]) for e in entries] == [("photo", "files"), ("answer", "text"), ("notes", "files")]
    assert entries[0]["files"] == [{"name": "cat.png", "url": PHOTO["url"], "type": "image/png", "is_image": True}]
    assert entries[2]["files"][0]["is_image"] is False


def test_labels_and_option_labels_come_from_field_definitions_in_the_inputs() -> None:
    inputs = {
        "form": {
            "sections": [
                {
                    "fields": [
                        {"name": "lang", "label": "Language", "options": [{"value": "en", "label": "English"}]},
                        {"name": "kids", "label": "Children", "options": [{"value": ">=3", "label": "Three or more"}]},
                    ]
                }
            ]
        }
    }
    entries = answer_summary({"lang": ["en", "xx"], "kids": ">=3", "other": "z"}, [], inputs)
    assert [(e["label"], e.get("items") or e.get("text")) for e in entries] == [
        ("Language", ["English", "xx"]),
        ("Children", "Three or more"),
        ("Other", "z"),
    ]
