from pathlib import Path

import pytest

from ingest.chunker import Chunker
from ingest.errors import LoadError, SkipFile, UsageError
from ingest.loaders import LOADERS, ParseLimits, load_file
from ingest.units import Source, Unit

from .conftest import CORPORA, SAMPLE

WINDOW = 254  # all-MiniLM-L6-v2 reads 256 tokens, [CLS] and [SEP] included


@pytest.fixture(scope="module")
def tokenizer(model):
    return model.tokenizer


@pytest.fixture
def chunker(tokenizer) -> Chunker:
    return Chunker(tokenizer, chunk_size=200, chunk_overlap=30, max_tokens=WINDOW)


def real_files() -> list[Path]:
    files = sorted(p for p in SAMPLE.iterdir() if p.suffix in LOADERS)
    if CORPORA.is_dir():
        files += sorted(p for p in CORPORA.rglob("*") if p.suffix.lower() in LOADERS)
    return files


def test_no_chunk_exceeds_the_window_and_offsets_point_into_the_unit(chunker):
    total = 0
    for path in real_files():
        try:
            units = load_file(path, ParseLimits()).units
        except (SkipFile, LoadError):
            continue
        chunks = chunker.chunk(path.name, units)
        total += len(chunks)
        counts = chunker.count_tokens([c.text for c in chunks])
        assert max(counts, default=0) <= 200, path.name
        grouped = any(u.group for u in units)
        for chunk in chunks:
            assert chunk.text.strip() and chunk.document == path.name
            if not grouped:
                owners = [
                    u for u in units if u.text[chunk.char_start : chunk.char_end] == chunk.text
                ]
                assert owners, f"{path.name}: chunk text not found at its offsets"
    assert total > 500


def test_long_text_is_split_at_paragraphs_with_overlap(chunker):
    paragraphs = [f"Paragraph {i}. " + "The quick brown fox jumps. " * 12 for i in range(12)]
    text = "\n\n".join(paragraphs)
    chunks = chunker.chunk("doc.txt", [Unit(text=text, source=Source(lines=(1, 23)))])
    assert len(chunks) > 3
    for previous, chunk in zip(chunks, chunks[1:], strict=False):
        assert chunk.char_start < previous.char_end, "neighbours overlap"
    assert all(c.text.rstrip().endswith(".") for c in chunks), "cuts at sentence ends"
    assert chunks[0].source.lines[0] == 1 and chunks[-1].source.lines[1] == 23
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.char_start, chunk.char_end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace()), "no text lost"


def test_text_without_spaces_is_still_cut_under_the_window(chunker):
    blob = "abc," * 3000  # punctuation splits it into tokens, but no space to cut at
    chunks = chunker.chunk("blob.txt", [Unit(text=blob)])
    assert len(chunks) > 1
    assert max(chunker.count_tokens([c.text for c in chunks])) <= WINDOW


def test_ids_are_stable_and_depend_on_place_and_content(chunker):
    units = [Unit(text="Alpha beta gamma.", source=Source(page=1))]
    first = chunker.chunk("a.pdf", units)[0].id
    assert chunker.chunk("a.pdf", units)[0].id == first
    assert chunker.chunk("b.pdf", units)[0].id != first
    moved = [Unit(text="Alpha beta gamma.", source=Source(page=2))]
    assert chunker.chunk("a.pdf", moved)[0].id != first
    twice = chunker.chunk("a.pdf", units + units)
    assert len({c.id for c in twice}) == 2, "repeated text in one place still gets unique ids"


def test_table_rows_are_packed_whole(chunker):
    rows = [
        Unit(text=f"name: item {i}; price: {i}", source=Source(rows=(i, i)), group="rows")
        for i in range(2, 60)
    ]
    chunks = chunker.chunk("t.csv", rows)
    assert 1 < len(chunks) < len(rows)
    assert chunks[0].source.rows[0] == 2 and chunks[-1].source.rows[1] == 59
    for chunk in chunks:
        assert all(line.startswith("name: item") for line in chunk.text.split("\n"))


def test_chunk_size_over_the_window_is_refused(tokenizer):
    with pytest.raises(UsageError, match="exceeds the embedding model's window"):
        Chunker(tokenizer, chunk_size=300, chunk_overlap=30, max_tokens=WINDOW)


def test_ocr_word_boxes_are_narrowed_to_each_chunks_words(chunker):
    words = [f"word{i}" for i in range(600)]
    text = " ".join(words)
    boxes, position = [], 0
    for i, word in enumerate(words):
        boxes.append((position, position + len(word), i / 600, 0.1, (i + 0.5) / 600, 0.12))
        position += len(word) + 1
    chunks = chunker.chunk("scan.pdf", [Unit(text, Source(page=1, boxes=tuple(boxes)))])
    assert len(chunks) > 2
    for chunk in chunks:
        read = [chunk.text[start:end] for start, end, *_ in chunk.source.boxes]
        assert read == chunk.text.split()
