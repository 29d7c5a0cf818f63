"""Everything a request needs, built once at startup: models, indexes, the pipeline."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from app.llm import LLM, create_llm
from app.llm.bundled import MODELS, default_model
from app.memory import bound_kernel_cache
from app.rag.evidence import EvidenceScorer
from app.rag.indexes import IndexLibrary
from app.rag.pipeline import AnswerPipeline
from app.rag.rerank import CrossEncoderReranker
from app.rag.retriever import Retriever
from app.rag.search import PassageSearch
from app.settings import Settings
from ingest.embedder import FEW_TEXTS, Embedder
from ingest.stores import Store, open_store

log = logging.getLogger("sourced")


@dataclass
class Services:
    settings: Settings
    store: Store
    embedder: Embedder
    llm: LLM
    library: IndexLibrary
    pipeline: AnswerPipeline
    search: PassageSearch
    load_seconds: float


def build_services(
    settings: Settings, llm: LLM | None = None, store: Store | None = None
) -> Services:
    started = time.perf_counter()
    bound_kernel_cache()  # before the models do any work
    embedder = Embedder.from_settings(settings)
    if llm is None:
        say_default_model(settings)
        llm = create_llm(settings)
    load_models(embedder, llm)
    store = store or open_store(settings)
    search = build_search(settings, embedder, store)
    pipeline = AnswerPipeline(settings, search.library, search.retriever, llm, search.scorer)
    seconds = time.perf_counter() - started
    log.info(
        "loaded embedding model %s and LLM %s (%s) in %.1f s",
        settings.embedding_model,
        llm.model,
        llm.name,
        seconds,
    )
    for version in store.list_indexes():
        log.info(
            "index %s at %s: %d documents, %d chunks",
            version.name,
            version.version,
            version.document_count,
            version.chunk_count,
        )
    return Services(settings, store, embedder, llm, search.library, pipeline, search, seconds)


def say_default_model(settings: Settings) -> None:
    """Once at start, when SOURCED_LLM_MODEL names no model: which bundled one this machine
    gets, why, and how to choose."""
    if settings.llm_model or settings.llm_backend not in ("local", "llamacpp"):
        return
    chosen = default_model()
    others = ", ".join(name for name in MODELS if name != chosen.model.name)
    log.info(
        "LLM: %s, the bundled model for this machine (%s); set SOURCED_LLM_MODEL to choose "
        "another (%s, or a .gguf file)",
        chosen.model.title,
        chosen.reason,
        others,
    )


def load_models(embedder: Embedder, llm: LLM) -> None:
    """Load and warm both models now, not on the first request, in a thread that then ends.
    Warming runs torch on every CPU thread, and a thread that has done so keeps a pool of
    OpenMP threads while it lives; the thread that called this (a server's main thread) would
    keep one for good, and the LLM, generating in a thread of its own, would write a fifth
    slower (see ingest/embedder.py, FEW_TEXTS)."""
    failed: list[BaseException] = []

    def load() -> None:
        try:
            embedder.embed(["warm up"] * (FEW_TEXTS + 1))  # the batch path, on every thread
            embedder.embed_query("warm up")
            llm.load()
        except BaseException as exc:  # raised again in the caller's thread
            failed.append(exc)

    loader = threading.Thread(target=load, name="load-models")
    loader.start()
    loader.join()
    if failed:
        raise failed[0]


def build_search(settings: Settings, embedder: Embedder, store: Store) -> PassageSearch:
    """Search over the store's indexes, without an LLM (the LangChain retriever's engine)."""
    library = IndexLibrary(store, settings.embedding_model, embedder.dimension)
    retriever = build_retriever(settings, embedder)
    return PassageSearch(settings, library, retriever, EvidenceScorer(embedder))


def build_retriever(settings: Settings, embedder: Embedder) -> Retriever:
    reranker = CrossEncoderReranker(settings.reranker_model) if settings.reranker_model else None
    return Retriever(
        embedder,
        reranker=reranker,
        duplicate_similarity=settings.duplicate_similarity,
        candidates=settings.retrieval_candidates,
    )
