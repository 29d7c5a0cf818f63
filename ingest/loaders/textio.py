"""Reading bytes as text: BOMs, UTF-8, and a best guess for legacy encodings."""

import codecs

from charset_normalizer import from_bytes

from ingest.errors import LoadError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes) -> str:
    """Decode a text file: honour a BOM, prefer UTF-8, else detect; line endings become \\n."""
    text = _decode(data)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(data: bytes) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\0" in data[:8192]:  # text never holds NUL bytes outside UTF-16/32 (which carry a BOM)
        raise LoadError("binary data, not text (NUL bytes near the start)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    guess = from_bytes(data[:1_000_000]).best()
    if guess is not None and guess.encoding:
        return data.decode(guess.encoding, errors="replace")
    return data.decode("cp1252", errors="replace")
