"""The task's "model": a tiny word-list sentiment scorer, called from the page with mephisto.call("score", ...).

Swap it for your own model, search or scorer: any function marked @procedure that takes the page's arguments
(and optionally a second `call` argument saying who is calling) and returns JSON-able data. Raise ProcedureError
to tell the worker something in your own words. Slow work is fine: each call runs on its own thread (or as its
own task for `async def`), with the task file's timeout.
"""

from __future__ import annotations

import re

from mephisto_core.procedures import ProcedureError, procedure

POSITIVE = {
    "good", "great", "love", "loved", "lovely", "excellent", "happy", "enjoyed", "enjoy", "wonderful", "nice",
    "delicious", "fun", "best", "beautiful", "amazing", "fantastic", "pleasant", "comfortable", "like", "liked",
}  # fmt: skip
NEGATIVE = {
    "bad", "awful", "hate", "hated", "terrible", "sad", "boring", "worst", "poor", "cold", "late", "ugly",
    "horrible", "disappointing", "dirty", "noisy", "slow", "rude", "bland", "dislike", "crowded",
}  # fmt: skip
NEGATIONS = {"not", "never", "no", "hardly", "n't"}
# What simulated workers (mephisto launch --simulate N) call on each unit before they answer it.
SIMULATED_CALLS = [("score", {"text": "The soup was lovely but the bread was stale and cold."})]


@procedure
def score(args: dict[str, str]) -> dict[str, object]:
    """Guess the sentiment of `args["text"]`: a label, a score from -1 to 1, and the words that decided it."""
    text = args.get("text", "") if isinstance(args, dict) else ""
    words = re.findall(r"[a-z']+", text.lower())
    if len(words) < 3:
        raise ProcedureError("Please write a sentence of at least three words first.")
    total, evidence = 0, []
    for i, word in enumerate(words):
        polarity = (word in POSITIVE) - (word in NEGATIVE)
        if polarity and i > 0 and (words[i - 1] in NEGATIONS or words[i - 1].endswith("n't")):
            polarity = -polarity  # "not good" counts as negative
        if polarity:
            total += polarity
            evidence.append(word)
    value = max(-1.0, min(1.0, total / 3))
    label = "positive" if value > 0 else "negative" if value < 0 else "neutral"
    return {"label": label, "score": round(value, 2), "evidence": evidence}
