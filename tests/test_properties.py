"""Properties over generated input (Hypothesis): the chunker loses and duplicates no text beyond
its overlap and never exceeds the model's window; the citation mapper keeps only valid markers
and never changes the words of the answer."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.rag.citations import resolve_citations
from ingest.chunker import Chunker
from ingest.units import Source, Unit

_VOCABULARY = (
    "the index answer cites sources quickly über naïve 日本語 العربية e-mail v2.0 "
    "ERR-4012 1,234.5 supercalifragilisticexpialidocious antidisestablishmentarianism "
    "🙂 (see [3]) — ; : ! ? ."
)
WORDS = st.sampled_from(_VOCABULARY.split())
SEPARATORS = st.sampled_from([" ", " ", " ", "\n", "\n\n", ". ", "\t", "  "])
TEXT = st.lists(st.tuples(WORDS, SEPARATORS), min_size=1, max_size=400).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)
SIZES = st.sampled_from([(16, 4), (32, 8), (64, 0), (200, 30)])


@pytest.fixture(scope="module")
def tokenizer(model):
    return model.tokenizer


def token_spans(tokenizer, text: str) -> list[tuple[int, int]]:
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return [(a, b) for a, b in encoded["offset_mapping"] if b > a]


@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=TEXT, sizes=SIZES)
def test_chunks_cover_the_text_within_the_window_and_overlap(tokenizer, text, sizes):
    size, overlap = sizes
    chunker = Chunker(tokenizer, size, overlap, max_tokens=254)
    chunks = chunker.chunk("doc.txt", [Unit(text, Source())])
    tokens = token_spans(tokenizer, text)
    if not tokens:
        assert chunks == []
        return
    for chunk in chunks:
        assert chunk.text == text[chunk.char_start : chunk.char_end]  # text is never altered
        assert chunker.count_tokens([chunk.text])[0] <= 254  # never over the window
    # every token of the text is in some chunk: nothing lost
    covered = [(c.char_start, c.char_end) for c in chunks]
    for a, b in tokens:
        assert any(start <= a and b <= end for start, end in covered), text[a:b]
    # neighbours share at most the overlap (in the text's own tokens), so nothing else repeats
    ordered = sorted(covered)
    for (start, end), (next_start, _) in zip(ordered, ordered[1:], strict=False):
        shared = [t for t in tokens if next_start <= t[0] and t[1] <= end and start <= t[0]]
        assert len(shared) <= overlap, (len(shared), overlap)


MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
ANSWER = st.lists(
    st.one_of(
        st.sampled_from(["Backups", "run", "nightly", "at", "two", "café", "3.5", "—", "."]),
        st.lists(st.integers(-3, 12), min_size=1, max_size=3).map(
            lambda ns: "[" + ", ".join(str(n) for n in ns) + "]"
        ),
    ),
    max_size=40,
).map(" ".join)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(answer=ANSWER, sources=st.integers(0, 8))
def test_citations_keep_only_valid_markers_and_every_word(answer, sources):
    text, cited = resolve_citations(answer, sources)
    found = [int(n) for m in MARKER.findall(text) for n in re.split(r"[,;]", m)]
    assert all(1 <= n <= sources for n in found)
    valid_in_input = [
        int(n)
        for m in MARKER.findall(answer)
        for n in re.split(r"[,;]", m)
        if 1 <= int(n) <= sources
    ]
    assert cited == list(dict.fromkeys(valid_in_input))  # first appearance order, no repeats
    words = re.compile(r"[^\W_]+(?:\.\d+)?")
    assert words.findall(MARKER.sub(" ", text)) == words.findall(MARKER.sub(" ", answer))
