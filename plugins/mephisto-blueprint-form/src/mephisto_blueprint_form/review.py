"""A submitted answer shown inside its form, read-only, for the review app."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from mephisto_blueprint_form.rules import field_kind

_STYLE = """<style>
.mephisto-form-review fieldset { border: 1px solid #d1d9e0; border-radius: 6px; margin: 0 0 1rem; }
.mephisto-form-review .form-row { display: flex; flex-wrap: wrap; gap: 1rem; }
.mephisto-form-review .form-field { flex: 1 1 14rem; min-width: 0; margin-bottom: 0.75rem; }
.mephisto-form-review .field-label { display: block; font-weight: 600; }
.mephisto-form-review input, .mephisto-form-review select, .mephisto-form-review textarea { max-width: 100%; }
.mephisto-form-review .no-answer { color: #59636e; font-style: italic; }
</style>"""


def review_html(config: Mapping[str, Any], outputs: Mapping[str, Any], file_urls: Mapping[str, Sequence[str]]) -> str:
    """The form of `config` with `outputs` filled in and every control disabled; files as download links.

    Only the researcher's instructions are trusted HTML, and they are left out here: the review shows the
    questions (titles, labels) and answers, all of them escaped.
    """
    form = config["form"]
    parts = [_STYLE, '<div class="mephisto-form-review">', f"<h2>{escape(form['title'])}</h2>"]
    for section in form["sections"]:
        parts.append(f"<section><h3>{escape(section['title'])}</h3>")
        for fieldset in section["fieldsets"]:
            parts.append("<fieldset>")
            if fieldset.get("title"):
                parts.append(f"<legend>{escape(fieldset['title'])}</legend>")
            for row in fieldset["rows"]:
                parts.append('<div class="form-row">')
                parts += [_field(field, outputs, file_urls) for field in row["fields"]]
                parts.append("</div>")
            parts.append("</fieldset>")
        parts.append("</section>")
    parts.append("</div>")
    return "\n".join(parts)


def _field(field: Mapping[str, Any], outputs: Mapping[str, Any], file_urls: Mapping[str, Sequence[str]]) -> str:
    name = field["name"]
    label = f'<span class="field-label">{escape(field["label"])}</span>'
    if name not in outputs:
        return f'<div class="form-field">{label}<span class="no-answer">(no answer)</span></div>'
    value = outputs[name]
    kind = field_kind(field)
    if kind == "files":
        return f'<div class="form-field">{label}{_files(value, file_urls.get(name, []))}</div>'
    if kind in ("choice", "choices"):
        chosen = set(value) if isinstance(value, list) else {value}
        if field["type"] == "select":
            options = "".join(
                f'<option value="{escape(o["value"])}"{" selected" if o["value"] in chosen else ""}>'
                f"{escape(o['label'])}</option>"
                for o in field["options"]
            )
            multiple = " multiple" if kind == "choices" else ""
            return f'<label class="form-field">{label}<select disabled{multiple}>{options}</select></label>'
        control = "checkbox" if kind == "choices" else "radio"
        boxes = "".join(
            f'<label><input type="{control}" disabled{" checked" if o["value"] in chosen else ""}> '
            f"{escape(o['label'])}</label><br>"
            for o in field["options"]
        )
        return f'<div class="form-field">{label}{boxes}</div>'
    text = "" if value is None else str(value)
    if field["type"] == "textarea":
        control = f'<textarea disabled rows="4">{escape(text)}</textarea>'
    else:
        control = f'<input type="text" disabled value="{escape(text)}">'
    return f'<label class="form-field">{label}{control}</label>'


def _files(names: Any, urls: Sequence[str]) -> str:
    if not isinstance(names, list) or not names:
        return '<span class="no-answer">(no file)</span>'
    links = []
    for index, name in enumerate(names):
        text = escape(str(name))
        if index < len(urls):
            links.append(f'<a href="{escape(urls[index])}" download>{text}</a>')
        else:
            links.append(f"{text} (file not stored)")
    return "<br>".join(links)
