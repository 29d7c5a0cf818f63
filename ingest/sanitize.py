"""Characters a reader cannot see are removed from every unit's text before chunking.

Zero-width characters, bidirectional overrides, Unicode tag characters and control characters
render as nothing (or reorder what is shown), so text built from them can carry instructions
into a prompt that no person reviewing the document or the cited passage would notice. Tabs
and line breaks stay; so do visible characters of every script.
"""

from __future__ import annotations

import re

# Bump to make the next ingest re-read every file with the new rules.
SANITIZER_VERSION = "clean-1"

_INVISIBLE = re.compile(
    "["
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f"  # C0 controls and DEL, but not tab, line feed, return
    "\x80-\x9f"  # C1 controls
    "\u00ad"  # soft hyphen
    "\u061c"  # Arabic letter mark
    "\u180e"  # Mongolian vowel separator
    "\u200b-\u200f"  # zero-width space, non-joiner, joiner; left-to-right and right-to-left marks
    "\u202a-\u202e"  # bidirectional embeddings and overrides
    "\u2060-\u2064"  # word joiner, invisible operators
    "\u2066-\u2069"  # bidirectional isolates
    "\ufeff"  # zero-width no-break space (byte order mark)
    "\U000e0000-\U000e007f"  # tag characters: invisible copies of ASCII
    "]"
)


def strip_invisible(text: str) -> tuple[str, int]:
    """The text without invisible and control characters, and how many were removed."""
    cleaned, removed = _INVISIBLE.subn("", text)
    return cleaned, removed
