"""Follow-up questions become standalone search queries.

"And how do I change it?" retrieves nothing useful on its own. When a request carries history,
the query used for retrieval is rewritten:

- by the LLM, when it is capable (SOURCED_QUERY_REWRITE=auto with a capable model, or =llm):
  it is asked for the question alone, rewritten to stand without the conversation;
- else by a heuristic: a question that refers back (a pronoun such as "it", "they" or "this",
  an opening such as "and", "what about", "also", or a single topic word) gets the
  topic words of the previous user question appended in parentheses. A question that stands on
  its own is used as asked.

The response reports the query that was used and how it was made.
"""

from __future__ import annotations

import re
from typing import Literal

from app.errors import AppError
from app.llm.base import LLM, GenerationParams, Message
from ingest.lexical import STOP_WORDS, terms

Rewrite = Literal["none", "heuristic", "llm"]

_REFERS_BACK = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|him|her|there|one|ones|same)\b",
    re.IGNORECASE,
)
_OPENING = re.compile(r"^\s*(and|but|also|so|then|what about|how about|why not)\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_][\w'-]*")

REWRITE_PROMPT = (
    "You rewrite a follow-up question so that it can be understood without the conversation. "
    "Reply with the rewritten question only, without answering it."
)
REWRITE_REQUEST = (
    "Rewrite the follow-up question so that it stands alone: replace words such as 'it', 'he' "
    "or 'that' with what they refer to."
)
# A rewrite must keep at least this share of the follow-up's own terms: a model that drops
# them has replaced the question ("Which setting raises it?" → the previous question).
_KEPT_TERMS = 0.5


def topic_words(text: str) -> list[str]:
    seen: list[str] = []
    for word in _WORD.findall(text):
        if word.lower() not in STOP_WORDS and word.lower() not in (w.lower() for w in seen):
            seen.append(word)
    return seen


def needs_context(question: str) -> bool:
    return bool(
        _REFERS_BACK.search(question) or _OPENING.match(question) or len(topic_words(question)) < 3
    )


def heuristic_rewrite(question: str, history: list[Message]) -> str | None:
    previous = next((t["content"] for t in reversed(history) if t["role"] == "user"), None)
    if previous is None or not needs_context(question):
        return None
    have = {w.lower() for w in topic_words(question)}
    extra = [w for w in topic_words(previous) if w.lower() not in have][:12]
    return f"{question.strip()} ({' '.join(extra)})" if extra else None


def llm_rewrite(question: str, history: list[Message], llm: LLM) -> str | None:
    conversation = "\n".join(f"{t['role']}: {t['content'][:1000]}" for t in history[-6:])
    messages: list[Message] = [
        {"role": "system", "content": REWRITE_PROMPT},
        {
            "role": "user",
            "content": f"Conversation:\n{conversation}\n\nFollow-up question: {question}\n\n"
            + REWRITE_REQUEST,
        },
    ]
    completion = llm.complete(messages, GenerationParams(max_tokens=64, temperature=0.0))
    lines = [line.strip().strip('"').strip() for line in completion.text.strip().splitlines()]
    rewritten = next((line for line in lines if line), "")
    rewritten = re.sub(r"^(rewritten question|question)\s*:\s*", "", rewritten, flags=re.I)
    # A reply that is empty, rambles or has lost the question's own words is not a rewrite.
    if not rewritten or len(rewritten) > 3 * len(question) + 200:
        return None
    own = set(terms(question))  # "And that one?" has too few to judge by
    if len(own) >= 2 and len(own & set(terms(rewritten))) < _KEPT_TERMS * len(own):
        return None
    return rewritten


def uses_llm(how: str, llm_capable: bool) -> bool:
    """Whether rewriting a follow-up will ask the LLM (so the caller can hold an LLM slot)."""
    return how == "llm" or (how == "auto" and llm_capable)


def standalone_query(
    question: str, history: list[Message], how: str, llm: LLM, llm_capable: bool
) -> tuple[str, Rewrite]:
    """The retrieval query for a question, and how it was made. `how`: auto, llm, heuristic
    or off."""
    if not history or how == "off":
        return question, "none"
    if uses_llm(how, llm_capable):
        try:
            rewritten = llm_rewrite(question, history, llm)
        except AppError:  # an LLM that fails here still gets its turn to answer
            rewritten = None
        if rewritten:
            return rewritten, "llm"
    rewritten = heuristic_rewrite(question, history)
    return (rewritten, "heuristic") if rewritten else (question, "none")
