"""End to end: the real server process, the real index built from data/, the real bundled
model (Qwen2.5-Coder-0.5B-Instruct)."""

import json

import httpx
import pytest

from .server import running_server, sample_index

MODEL = "Qwen2.5-Coder-0.5B-Instruct"
TICKETS = """office,month,closed
Berlin,May,41
Berlin,June,38
Paris,May,29
Berlin,May,"1,002"
Lyon,May,7
"""


@pytest.fixture(scope="module")
def local_server(tmp_path_factory):
    index_dir = sample_index(tmp_path_factory.mktemp("e2e"), extra={"tickets.csv": TICKETS})
    env = {"SOURCED_INDEX_DIR": str(index_dir), "SOURCED_LLM_BACKEND": "local"}
    env["SOURCED_LLM_MODEL"] = "qwen2.5-coder-0.5b"  # the small default (machine.py)
    with running_server(env, timeout_s=600) as (url, log):
        yield url, log


def ask(url: str, **body) -> dict:
    response = httpx.post(f"{url}/ask", json=body, timeout=180)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_question_of_fact_gets_a_short_answer_with_its_quote(local_server):
    url, log = local_server
    ready = httpx.get(f"{url}/readyz").json()
    assert ready["ready"] and ready["llm"] == f"local:{MODEL}"
    body = ask(url, question="How long does ingesting take?")
    assert body["answer_mode"] == "short" and body["model"] == MODEL, body
    assert "minute" in body["short_answer"] and body["answer"].startswith(body["short_answer"])
    cited = [s for s in body["sources"] if s["cited"]]
    assert len(cited) == 1 and cited[0]["verified"] and cited[0]["document"] == "faq.json"
    quote = cited[0]["quote"]["text"]
    assert f'"{quote}" [{cited[0]["n"]}]' in body["answer"] and body["short_answer"] in quote
    assert not quote.startswith(("topic:", "answer:"))  # the field that answers, not the record
    assert body["usage"]["completion_tokens"] <= 64  # a phrase or a sentence, not a paragraph
    assert "loaded embedding model" in log.read_text()


def test_a_question_that_wants_an_explanation_gets_a_checked_generated_answer(local_server):
    url, _ = local_server
    body = ask(url, question="How do I install Sourced?")
    places = [(s["document"], s["page"]) for s in body["sources"]]
    assert places[0] == ("user-guide.pdf", 2), places
    assert body["answerable"] and body["answer_mode"] in ("generative", "extractive")
    if body["answer_mode"] == "extractive":
        assert "not supported" in body["notice"]
    else:
        assert body["grounded"] >= 0.75
    assert "make run" in body["answer"]
    assert any(s["verified"] and s["quote"] for s in body["sources"])


def test_a_question_the_documents_do_not_answer_is_refused(local_server):
    url, _ = local_server
    body = ask(url, question="Which team won the 1998 football world cup?")
    assert body["answerable"] is False and body["answer"].startswith("The documents do not")
    assert body["sources"]  # the nearest ones, for the reader to check


def test_a_follow_up_is_rewritten_by_the_model(local_server):
    url, _ = local_server
    history = [
        {"role": "user", "content": "How do I install Sourced?"},
        {"role": "assistant", "content": "From a checkout of the project, run make run [1]."},
    ]
    body = ask(url, question="And how long does that take?", history=history)
    assert body["query_rewrite"] == "llm", body
    assert "install" in body["query"].lower() and "long" in body["query"].lower()
    assert body["sources"] and body["answer"]


def test_real_server_errors_have_the_one_shape(local_server):
    url, _ = local_server
    response = httpx.post(f"{url}/ask", json={"question": "q", "index": "missing"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "index_not_found"


def test_the_local_model_streams_its_answer(local_server):
    url, _ = local_server
    names, done = [], None
    with httpx.stream(
        "POST",
        f"{url}/ask",
        json={
            "question": "How do I install Sourced?",
            "stream": True,
            "answer_mode": "generative",
            "llm": {"max_tokens": 24},
        },
        timeout=180,
    ) as response:
        assert response.status_code == 200
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
                names.append(event)
            elif line.startswith("data: ") and event == "done":
                done = json.loads(line[6:])
    assert names[0] == "sources" and names[-1] == "done"
    assert names.count("token") > 3, "tokens arrive one by one, not as one block"
    assert done["usage"]["completion_tokens"] <= 24


def test_every_protocol_answers_with_the_real_model_and_its_citations(local_server):
    import asyncio

    import ollama
    import openai
    from mcp import Client

    url, _ = local_server
    question = "How long does ingesting take?"

    async def mcp_ask():
        async with Client(f"{url}/mcp") as client:
            return await client.call_tool("ask", {"question": question})

    asked = asyncio.run(mcp_ask())
    assert not asked.is_error and asked.structured_content["model"] == MODEL
    assert "minute" in asked.structured_content["short_answer"]
    assert "quote (verified): " in asked.content[0].text

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    events = list(client.responses.create(model="default", input=question, stream=True))
    done = events[-1].response
    assert events[-1].type == "response.completed" and "minute" in done.output_text
    assert done.output[0].content[0].annotations and done.model_extra["sources"]

    chunks = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": question}], stream=True
    )
    sources = [c.model_extra["event"] for c in chunks if "event" in (c.model_extra or {})]
    assert sources and sources[0]["type"] == "source"

    reply = ollama.Client(host=url).chat(
        model="default", messages=[{"role": "user", "content": question}]
    )
    assert "minute" in reply.message.content and "\n\nSources:\n[" in reply.message.content


def test_a_count_over_a_table_is_computed_by_the_model_with_its_rows(local_server):
    import asyncio

    import openai
    from mcp import Client

    url, _ = local_server
    question = "How many tickets did the Berlin office close in May?"
    body = ask(url, question=question)
    assert body["answer_mode"] == "computed" and body["model"] == MODEL, body
    computation = body["computation"]
    assert computation["document"] == "tickets.csv" and "SELECT" in computation["sql"]
    assert body["short_answer"] == "1043", computation["sql"]
    assert [r["row"] for r in computation["cited_rows"]] == [2, 5]
    assert computation["cited_rows"][1]["cells"] == {"office": "Berlin", "month": "May",
                                                     "closed": 1002}  # fmt: skip

    # The other protocols carry the value, the query and the rows in their text.
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    reply = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": question}]
    )
    content = reply.choices[0].message.content
    assert content.startswith("1043\n\nComputed from 2 rows of tickets.csv (rows 2, 5)")
    assert "SELECT" in content

    async def mcp_ask():
        async with Client(f"{url}/mcp") as client:
            return await client.call_tool("ask", {"question": question})

    asked = asyncio.run(mcp_ask())
    assert asked.structured_content["answer_mode"] == "computed"
    assert asked.structured_content["computation"]["cited_row_count"] == 2
    assert "Computed from 2 rows" in asked.content[0].text
