"""The outcome of one ingest run, as the CLI prints it and as `--json` writes it."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class FileIssue:
    document: str  # relative name, never a server path
    reason: str


@dataclass
class IngestReport:
    index: str
    dry_run: bool = False
    version: str | None = None  # the version written; None when nothing changed
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old name, new name)
    skipped: list[FileIssue] = field(default_factory=list)
    failed: list[FileIssue] = field(default_factory=list)
    # Of the failed: files that failed on an earlier run and have not changed since (not
    # parsed again; --retry-failed does).
    failures_remembered: int = 0
    warnings: list[FileIssue] = field(default_factory=list)
    unsupported: Counter[str] = field(default_factory=Counter)  # extension → files
    documents: int = 0
    chunks: int = 0
    chunks_new: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    sentences_embedded: int = 0
    ocr_pages: int = 0  # pages and images whose text was read by OCR
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 when all went well, 1 when some files failed (the rest is indexed)."""
        return 1 if self.failed else 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["renamed"] = [{"from": old, "to": new} for old, new in self.renamed]
        data["unsupported"] = dict(sorted(self.unsupported.items()))
        data["seconds"] = round(self.seconds, 3)
        data["exit_code"] = self.exit_code
        return data

    def summary(self) -> str:
        """The human summary printed at the end of a run."""
        lines = []
        if self.dry_run:
            lines.append(f"Dry run for index '{self.index}': nothing was parsed or written.")
        elif self.version:
            lines.append(
                f"Index '{self.index}' is now at {self.version}: "
                f"{self.documents} documents, {self.chunks} chunks."
            )
        else:
            lines.append(
                f"Index '{self.index}' is up to date: "
                f"{self.documents} documents, {self.chunks} chunks."
            )
        skipped = len(self.skipped) + sum(self.unsupported.values())
        lines.append(
            f"  files: {len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed, "
            f"{skipped} skipped, {len(self.failed)} failed"
        )
        if not self.dry_run:
            lines.append(
                f"  chunks: {self.chunks_new} new ({self.chunks_embedded} embedded, "
                f"{self.chunks_reused} reused), {self.sentences_embedded} sentences embedded, "
                f"in {self.seconds:.1f} s"
            )
        if self.ocr_pages:
            lines.append(f"  OCR: {self.ocr_pages} pages without a text layer read by OCR")
        for old, new in self.renamed:
            lines.append(f"  renamed: {old} → {new}")
        if self.unsupported:
            kinds = ", ".join(
                f"{ext or '(none)'} ×{n}" for ext, n in sorted(self.unsupported.items())
            )
            lines.append(f"  unsupported types, not indexed: {kinds}")
        if self.failures_remembered:
            lines.append(
                f"  {self.failures_remembered} of the failed files failed the same way before "
                "and have not changed: not parsed again (--retry-failed reads them again)"
            )
        for title, issues in (
            ("Failed", self.failed),
            ("Skipped", self.skipped),
            ("Warnings", self.warnings),
        ):
            if issues:
                lines.append(f"{title}:")
                lines.extend(f"  {issue.document}: {issue.reason}" for issue in issues)
        return "\n".join(lines)
