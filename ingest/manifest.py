"""The manifest: what was ingested into an index version, file by file.

It lets the next run tell unchanged files (same size and mtime, or same content hash) from
changed, new, renamed and deleted ones without re-reading them, and remembers the files that
failed, so that an unchanged broken file is not parsed (and failed) again on every run.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FileRecord:
    path: str  # relative to the ingested folder, forward slashes
    size: int
    mtime_ns: int
    sha256: str
    parser: str  # loader version that read it, e.g. "pdf-1"
    chunk_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Why the file is not indexed (encrypted, no text…), remembered so that an unchanged
    # file is not parsed again only to be skipped again.
    skipped: str | None = None
    # Where the file was read from on the machine that ingested it, so that the app can show
    # the cited page of the original (only while it is unchanged). Never shown to users.
    origin: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict, which deep-copies field by field: a manifest holds a record
        # per file, and a million-chunk index several hundred thousand files.
        return {**vars(self), "chunk_ids": list(self.chunk_ids), "warnings": list(self.warnings)}


@dataclass
class Failure:
    """A file that could not be read: by its content and the parser that tried. It is tried
    again when either changes (or when asked to); what an earlier version of the file put in
    the index stays there meanwhile (its FileRecord)."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    parser: str
    reason: str

    def same_file(self, size: int, mtime_ns: int, parser: str) -> bool:
        return self.parser == parser and (self.size, self.mtime_ns) == (size, mtime_ns)


@dataclass
class Manifest:
    files: dict[str, FileRecord] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [record.to_dict() for _, record in sorted(self.files.items())],
            "failures": [asdict(failure) for _, failure in sorted(self.failures.items())],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        records = (FileRecord(**item) for item in data.get("files", []))
        failures = (Failure(**item) for item in data.get("failures", []))
        return cls(
            files={record.path: record for record in records},
            failures={failure.path: failure for failure in failures},
        )

    def indexed(self) -> dict[str, FileRecord]:
        """The files that have chunks in the index."""
        return {name: r for name, r in self.files.items() if r.skipped is None}


@dataclass
class ManifestChange:
    """How a version's manifest differs from the previous version's: the records it writes
    (files new or changed), the records it forgets (files gone), and every failure it
    remembers. A publish carries this rather than the whole manifest, so that one changed
    file costs one record, however many files the index holds."""

    records: dict[str, FileRecord] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)
    failures: dict[str, Failure] = field(default_factory=dict)

    def apply(self, manifest: Manifest) -> Manifest:
        """The manifest that results from `manifest`, the previous version's."""
        files = {p: r for p, r in manifest.files.items() if p not in self.forgotten}
        files.update(self.records)
        return Manifest(files=dict(sorted(files.items())), failures=dict(self.failures))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
