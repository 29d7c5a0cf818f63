"""Citations: map the answer's [n] markers to sources, and drop the ones that point at nothing."""

from __future__ import annotations

import re

_MARKER = re.compile(r"\[(\s*\d+\s*(?:[,;]\s*\d+\s*)*)\]")


def resolve_citations(answer: str, sources: int) -> tuple[str, list[int]]:
    """The answer with only valid markers left, and the source numbers it cites, in order."""
    cited: list[int] = []

    def keep_valid(match: re.Match) -> str:
        numbers = [int(n) for n in re.split(r"[,;]", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= sources]
        for n in valid:
            if n not in cited:
                cited.append(n)
        return "[" + ", ".join(str(n) for n in valid) + "]" if valid else ""

    text = _MARKER.sub(keep_valid, answer)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)  # "claim [9]." → "claim."
    return re.sub(r"[ \t]{2,}", " ", text).strip(), cited
