"""Uploads: files added to an index through the service, by the same ingest pipeline.

Files are kept by the store with the index (the local store: the index's `uploads/` folder)
under sanitized names (no path sent by the client is ever used), and ingested without
removing anything else from the index."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.deps import IndexName, PrincipalDep, ServicesDep, check_scope
from app.errors import InvalidRequest
from app.schemas import ERROR_RESPONSES
from ingest.loaders import SUPPORTED_EXTENSIONS
from ingest.sync import run_ingest

router = APIRouter(responses=ERROR_RESPONSES)
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


class UploadResult(BaseModel):
    name: str  # as the client sent it
    document: str | None  # the document's name in the index, when stored
    status: str  # added, updated, unchanged, skipped, failed or rejected
    reason: str | None = None


class UploadReport(BaseModel):
    index: str
    version: str | None  # the index version now current (None: nothing changed)
    files: list[UploadResult]


def safe_name(raw: str) -> str:
    """A plain file name: the last path part, odd characters replaced, no leading dots."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    return base[:120] or "file"


@router.post("/indexes/{name}/documents", response_model=UploadReport)
async def upload(
    name: IndexName,
    services: ServicesDep,
    principal: PrincipalDep,
    files: Annotated[list[UploadFile], File()],
) -> UploadReport:
    """Add files to an index (created when missing). Each file gets its own result."""
    check_scope(principal, name)
    settings = services.settings
    if not files:
        raise InvalidRequest("send at least one file", "files")
    results: list[UploadResult] = []
    stored: dict[str, UploadResult] = {}
    limit = int(settings.max_upload_mb * 1024 * 1024)
    for file in files:
        raw = file.filename or "file"
        clean = safe_name(raw)
        extension = Path(clean).suffix.lower()
        if extension not in SUPPORTED_EXTENSIONS:
            kinds = ", ".join(SUPPORTED_EXTENSIONS)
            results.append(
                UploadResult(
                    name=raw,
                    document=None,
                    status="rejected",
                    reason=f"unsupported type '{extension or clean}'; accepted: {kinds}",
                )
            )
            continue
        data = await file.read(limit + 1)
        if len(data) > limit:
            results.append(
                UploadResult(
                    name=raw,
                    document=None,
                    status="rejected",
                    reason=f"larger than the {settings.max_upload_mb:g} MB upload limit",
                )
            )
            continue
        await run_in_threadpool(services.store.save_upload, name, clean, data)
        result = UploadResult(name=raw, document=f"uploads/{clean}", status="stored")
        results.append(result)
        stored[result.document] = result

    version = None
    if stored:
        report = await run_in_threadpool(
            run_ingest,
            [],
            name,
            settings,
            prune=False,
            embedder=services.embedder,
            store=services.store,
        )
        version = report.version
        outcomes = {d: "added" for d in report.added} | {d: "updated" for d in report.updated}
        outcomes |= {d: "unchanged" for d in report.unchanged}
        reasons = {i.document: ("skipped", i.reason) for i in report.skipped}
        reasons |= {i.document: ("failed", i.reason) for i in report.failed}
        for document, result in stored.items():
            if document in reasons:
                result.status, result.reason = reasons[document]
            else:
                result.status = outcomes.get(document, "unchanged")
    return UploadReport(index=name, version=version, files=results)
