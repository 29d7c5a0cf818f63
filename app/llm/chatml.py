"""The chat format of the bundled models (ChatML, as Qwen2.5 and SmolLM2 were trained on),
written by Sourced rather than taken from the model file: a GGUF file carries its own chat
template, and a template is code that a hostile file could use to change every prompt.

Text inside a message cannot pose as the format's markers: `<|im_start|>` and its kind are
written with a space inside, so a document cannot open a new system turn.
"""

from __future__ import annotations

import re

from app.llm.base import Message

END_OF_TURN = "<|im_end|>"
END_OF_TEXT = "<|endoftext|>"
_MARKER = re.compile(r"<\|(im_start|im_end|endoftext)\|>")


def defang(text: str) -> str:
    return _MARKER.sub(lambda m: f"<| {m.group(1)} |>", text)


def render(messages: list[Message]) -> str:
    """The prompt for a conversation, ending where the assistant's reply begins."""
    turns = "".join(
        f"<|im_start|>{m['role']}\n{defang(m['content'])}{END_OF_TURN}\n" for m in messages
    )
    return turns + "<|im_start|>assistant\n"
