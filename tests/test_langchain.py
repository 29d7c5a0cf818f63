"""The LangChain retrievers: in process over the store, and remote over HTTP with a key, each
returning Documents whose metadata locates the passage; and the retriever in an LCEL chain
with a deterministic chat model from langchain_core."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableParallel, RunnablePassthrough

from app.langchain_retriever import SourcedAPIError, SourcedHTTPRetriever, SourcedRetriever
from app.settings import Settings

from .server import DOCS_KEY, protocol_env

QUESTION = "How do I install Sourced?"
METADATA = {
    "index", "index_version", "rank", "document", "page", "locator", "chunk_id", "score",
    "similarity", "quote", "quote_start", "quote_end", "evidence",
}  # fmt: skip


@pytest.fixture(scope="module")
def local(protocol_root):
    index_dir = protocol_env(protocol_root, keys=False)["SOURCED_INDEX_DIR"]
    settings = Settings(index_dir=index_dir, _env_file=None)
    return SourcedRetriever.from_settings(settings, index="docs", top_k=3)


def check(documents) -> None:
    assert len(documents) == 3
    best = documents[0]
    assert set(best.metadata) == METADATA and best.id == best.metadata["chunk_id"]
    assert best.metadata["document"] == "user-guide.pdf" and best.metadata["locator"] == "p. 2"
    start, end = best.metadata["quote_start"], best.metadata["quote_end"]
    assert best.page_content[start:end] == best.metadata["quote"]
    assert [d.metadata["rank"] for d in documents] == [1, 2, 3]


def test_in_process_retriever(local):
    check(local.invoke(QUESTION))
    only = local.model_copy(update={"documents": ["*.md"]}).invoke(QUESTION)
    assert only and all(d.metadata["document"].endswith(".md") for d in only)


def test_remote_retriever_with_a_key(guarded_server, local):
    remote = SourcedHTTPRetriever(url=guarded_server, api_key=DOCS_KEY, index="docs", top_k=3)
    documents = remote.invoke(QUESTION)
    check(documents)
    assert [d.id for d in documents] == [d.id for d in local.invoke(QUESTION)]
    with pytest.raises(SourcedAPIError) as outside:
        remote.model_copy(update={"index": "default"}).invoke(QUESTION)
    assert outside.value.status == 403 and "may not use index 'default'" in str(outside.value)
    with pytest.raises(SourcedAPIError) as keyless:
        SourcedHTTPRetriever(url=guarded_server, index="docs").invoke(QUESTION)
    assert keyless.value.status == 401


def test_remote_retriever_async_without_keys(open_server):
    remote = SourcedHTTPRetriever(url=open_server, index="docs", top_k=3)
    check(asyncio.run(remote.ainvoke(QUESTION)))


def test_in_an_lcel_chain(local):
    def sources(documents) -> str:
        return "\n".join(
            f"[{d.metadata['rank']}] {d.metadata['document']}, {d.metadata['locator']}: "
            f"{d.page_content}"
            for d in documents
        )

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer from these sources, citing them as [n]:\n{sources}"),
            ("human", "{question}"),
        ]
    )
    model = FakeListChatModel(responses=["Run make run [1]."])
    chain = RunnableParallel(documents=local, question=RunnablePassthrough()).assign(
        answer=(lambda x: {"sources": sources(x["documents"]), "question": x["question"]})
        | prompt
        | model
        | StrOutputParser()
    )
    result = chain.invoke(QUESTION)
    assert result["answer"] == "Run make run [1]."
    assert result["documents"][0].metadata["document"] == "user-guide.pdf"
    rendered = prompt.invoke({"sources": sources(result["documents"]), "question": QUESTION})
    assert "[1] user-guide.pdf, p. 2: " in rendered.to_string()
