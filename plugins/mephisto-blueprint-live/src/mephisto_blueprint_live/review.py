"""The chat view of a live unit in the review app: its transcript as speech bubbles (all text escaped)."""

from __future__ import annotations

import html
import json
from typing import Any

_STYLE = (
    "<style>.live-chat{font-family:sans-serif;max-width:44em}.live-line{margin:.3em 0;padding:.4em .7em;"
    "border-radius:.6em;background:#eef}.live-line.task{background:#f4f4f4;font-style:italic}"
    ".live-who{font-weight:bold;margin-right:.5em}.live-meta{color:#666;font-size:.85em}</style>"
)


def _text(data: Any) -> str:
    if isinstance(data, dict) and len(data) == 1:
        text = data.get("text")
        if isinstance(text, str):
            return text
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def chat_review_html(outputs: dict[str, Any]) -> str | None:
    """The transcript in `outputs["transcript"]` as HTML, or None when the unit has none."""
    transcript = outputs.get("transcript")
    if not isinstance(transcript, list):
        return None
    parts = [_STYLE, '<div class="live-chat">']
    episode = outputs.get("episode")
    parts.append(f'<p class="live-meta">Episode: {html.escape(str(episode))} · {len(transcript)} messages</p>')
    for line in transcript:
        if not isinstance(line, dict):
            continue
        sender = line.get("sender")
        css = "live-line" if sender else "live-line task"
        who = html.escape(str(sender)) if sender else "Task"
        if line.get("to"):
            who += " → " + html.escape(str(line["to"]))
        parts.append(
            f'<div class="{css}"><span class="live-who">{who}</span>{html.escape(_text(line.get("data")))}</div>'
        )
    extra = {k: v for k, v in outputs.items() if k not in ("transcript", "episode")}
    if extra:
        parts.append(f'<pre class="live-meta">{html.escape(json.dumps(extra, indent=2, ensure_ascii=False))}</pre>')
    parts.append("</div>")
    return "".join(parts)
