"""Paths from outside can't escape their folders: upload names, and links in ingested folders."""

from __future__ import annotations

import os
import shutil

import pytest
from fastapi.testclient import TestClient

from app.api.uploads import safe_name
from app.main import create_app
from app.settings import Settings
from ingest.scan import scan
from ingest.stores.local import open_index
from ingest.sync import run_ingest

from .conftest import SAMPLE

HOSTILE_NAMES = {
    "../../etc/escape-a.md": "escape-a.md",
    "/etc/escape-b.md": "escape-b.md",
    "C:\\Windows\\escape-c.md": "escape-c.md",
    "..\\..\\escape-d.md": "escape-d.md",
    "....//....//escape-e.md": "escape-e.md",
    "%2e%2e%2fescape-f.md": "_2e_2e_2fescape-f.md",
    ".hidden/../.escape-g.md": "escape-g.md",
    "uploads/../../escape-h.md": "escape-h.md",
    "nul\0byte/escape-i.md": "escape-i.md",
}


@pytest.mark.parametrize("raw", HOSTILE_NAMES)
def test_upload_names_become_plain_names(raw):
    assert safe_name(raw) == HOSTILE_NAMES[raw]
    assert "/" not in safe_name(raw) and "\\" not in safe_name(raw)
    assert not safe_name(raw).startswith(".")


def test_uploads_with_hostile_names_stay_in_the_uploads_folder(tmp_path, model):
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE, docs)
    settings = Settings(index_dir=tmp_path / "indexes", llm_backend="fake", _env_file=None)
    run_ingest([docs], "default", settings)
    before = {p for p in tmp_path.rglob("*")}
    files = [
        ("files", (raw, f"# Note\nEscape attempt {n}.".encode(), "text/markdown"))
        for n, raw in enumerate(HOSTILE_NAMES)
        if "\0" not in raw  # a NUL cannot travel in a multipart file name
    ]
    with TestClient(create_app(settings)) as client:
        response = client.post("/indexes/default/documents", files=files)
    assert response.status_code == 200, response.text
    uploads = settings.index_dir / "default" / "uploads"
    created = {p for p in tmp_path.rglob("*") if p not in before}
    assert created and all(p.is_relative_to(settings.index_dir / "default") for p in created)
    assert {p.name for p in uploads.iterdir()} == {HOSTILE_NAMES[raw] for _, (raw, _, _) in files}
    documents = open_index(settings.index_dir, "default").documents()
    assert {d for d in documents if d.startswith("uploads/")} == {
        f"uploads/{p.name}" for p in uploads.iterdir()
    }


def test_links_out_of_the_folder_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\nNot to be ingested.")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "own.md").write_text("# Own\nTo be ingested.")
    (docs / "inner").mkdir()
    (docs / "inner" / "deep.md").write_text("# Deep\nIngested once.")
    os.symlink(outside / "secret.md", docs / "link-to-secret.md")
    os.symlink(outside, docs / "link-to-outside")
    os.symlink(docs / "inner", docs / "link-to-inner")  # a loop risk: never followed
    os.symlink(docs / "own.md", docs / "alias.md")  # inside the folder: kept
    names = [f.name for f in scan([docs])]
    assert names == ["alias.md", "inner/deep.md", "own.md"]


def test_the_index_folder_inside_the_documents_is_left_out(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "own.md").write_text("# Own\nTo be ingested.")
    index_dir = docs / "indexes"
    (index_dir / "default" / "uploads").mkdir(parents=True)
    (index_dir / "default" / "uploads" / "up.md").write_text("# Up\nAn upload.")
    names = [f.name for f in scan([docs], exclude=index_dir)]
    assert names == ["own.md"]
