"""The chat page in a real browser: Debian's chromium driven by Playwright, against the real
server (with the deterministic fake LLM, so what the page must show is known)."""

import os
import shutil

import httpx
import pytest

from .conftest import ROOT
from .scans import PARAGRAPHS, scanned_pdf
from .server import DOCS_KEY, FULL_KEY, free_port, running_server, sample_index

playwright = pytest.importorskip("playwright.sync_api", reason="needs the test extra")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")

HOSTILE = """# Release checklist

The release manager signs off <script>window.__pwned = 1</script> every release.

<img src="http://127.0.0.1:9/x.png" onerror="window.__pwned = 2"> Images are not fetched.
"""

TICKETS = "office,month,closed\nBerlin,May,41\nParis,May,29\nBerlin,June,38\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    scan = scanned_pdf(root / "scan.pdf", PARAGRAPHS)
    extra = {
        "hostile.md": HOSTILE,
        "scans/warehouse-scan.pdf": scan.read_bytes(),
        "tickets.csv": TICKETS,
    }
    index_dir = sample_index(root, extra=extra)
    env = {"SOURCED_INDEX_DIR": str(index_dir), "SOURCED_LLM_BACKEND": "fake"}
    with running_server(env) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    # launch() starts the browser with a fresh, empty profile of its own each time.
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server)
    yield page
    context.close()
    assert not errors, errors


def ask(page, question: str) -> dict:
    """Ask through the page; returns the JSON the page posted to /ask."""
    answered = page.locator(".turn.assistant .meta").count()
    page.fill("#question", question)
    with page.expect_request("**/ask") as request:
        page.press("#question", "Enter")
    page.locator(".turn.assistant .meta").nth(answered).wait_for(timeout=30_000)
    return request.value.post_data_json


def test_ask_see_answer_and_sources_then_open_a_citation(page, tmp_path):
    page.wait_for_selector("#index option", state="attached")
    assert "default" in page.inner_text("#index")
    ask(page, "How do I install Sourced?")
    answer = page.locator(".turn.assistant").last
    assert answer.locator(".cite").count() >= 1
    cards = page.locator(".card")
    assert cards.count() == 5
    assert "user-guide.pdf" in cards.first.inner_text()
    assert "cited" in (cards.first.get_attribute("class") or "")
    # the cited source shows the sentence that supports the answer, checked
    assert cards.first.locator(".badge.verified").count() == 1
    quote = cards.first.locator(".quote").inner_text()
    answer.locator(".cite").first.click()
    page.wait_for_selector("#reader:not([hidden]) .passage.asked")
    assert "Installing Sourced" in page.inner_text("#reader .passage.asked")
    assert page.inner_text("#reader .passage.asked mark") == quote
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(tmp_path / "page.png"))
    if os.environ.get("SOURCED_UPDATE_SCREENSHOT"):  # refreshes the README's picture
        page.screenshot(path=str(ROOT / "docs" / "screenshot.png"))


def test_follow_up_sends_history_and_shift_enter_makes_a_new_line(page):
    page.wait_for_selector("#index option", state="attached")
    page.fill("#question", "first line")
    page.press("#question", "Shift+Enter")
    page.type("#question", "second line")
    assert page.input_value("#question") == "first line\nsecond line"
    page.fill("#question", "")
    first = ask(page, "How do I install Sourced?")
    second = ask(page, "And which Python version?")
    assert first["history"] == [] and first["stream"] is True
    assert [turn["role"] for turn in second["history"]] == ["user", "assistant"]
    assert second["history"][0]["content"] == "How do I install Sourced?"
    assert page.locator(".turn.user").count() == 2
    assert page.locator(".turn.assistant .meta").count() == 2


def test_html_in_documents_is_shown_as_text_and_never_run(page):
    page.wait_for_selector("#index option", state="attached")
    ask(page, "Who signs off the release checklist?")
    assert page.evaluate("window.__pwned") is None
    cards = page.inner_text("#cards")
    assert "<script>window.__pwned = 1</script>" in cards or "onerror" in cards
    assert page.locator("#cards img, .turn img, #cards script, .turn script").count() == 0


def test_phone_width_layout(browser, server, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector("#index option", state="attached")
    ask(page, "How do I install Sourced?")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "nothing overflows sideways on a phone"
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    context.close()


def test_upload_a_file_then_ask_about_it(page, tmp_path):
    page.wait_for_selector("#index option", state="attached")
    note = tmp_path / "flux-capacitor.md"
    note.write_text("# Flux capacitor\n\nThe flux capacitor needs 1.21 gigawatts to operate.\n")
    bad = tmp_path / "program.exe"
    bad.write_bytes(b"MZ\x90\x00")
    page.set_input_files("#files", [str(note), str(bad)])
    page.wait_for_selector("#uploads li.ok", timeout=60_000)
    results = page.inner_text("#uploads")
    assert "flux-capacitor.md: added" in results and "program.exe: rejected" in results
    ask(page, "How much power does the flux capacitor need?")
    assert "uploads/flux-capacitor.md" in page.locator(".card").first.inner_text()


def test_an_unreachable_llm_is_a_clear_message(browser, tmp_path):
    index_dir = sample_index(tmp_path)
    env = {
        "SOURCED_INDEX_DIR": str(index_dir),
        "SOURCED_LLM_BACKEND": "openai",
        "SOURCED_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "SOURCED_LLM_MODEL": "absent",
        "SOURCED_LLM_RETRIES": "0",
    }
    with running_server(env) as (url, _):
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#index option", state="attached")
        page.fill("#question", "How do I install Sourced?")
        page.press("#question", "Enter")
        error = page.wait_for_selector(".turn.assistant.error", timeout=30_000)
        assert error.inner_text().startswith("The language model is unavailable")
        assert page.locator(".card").count() == 5, "the sources still show"
        context.close()


def test_the_page_asks_for_the_key_once_and_keeps_it_for_the_session(browser, guarded_server):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(guarded_server)
    dialog = page.locator("#key-dialog")
    dialog.wait_for(state="visible")
    assert "needs an API key" in page.inner_text("#key-message")
    page.fill("#key", "sk-wrong-key-0123456789")
    page.click("#key-use")
    # A locator, not a JavaScript predicate: the page's CSP forbids the eval that a predicate
    # needs whenever the message is not there at the first look.
    page.locator("#key-message", has_text="not accepted").wait_for()
    page.fill("#key", FULL_KEY)
    page.click("#key-use")
    page.wait_for_selector("#index option", state="attached")
    assert not dialog.is_visible()
    ask(page, "How do I install Sourced?")
    assert page.locator(".card").count() == 5
    page.reload()  # the same tab's session: no second prompt
    page.wait_for_selector("#index option", state="attached")
    assert not dialog.is_visible()
    context.close()
    fresh = browser.new_context().new_page()  # another session is asked again
    fresh.goto(guarded_server)
    fresh.locator("#key-dialog").wait_for(state="visible")
    fresh.context.close()
    assert not errors, errors


def test_a_passage_link_opens_the_page_at_the_passage_with_its_quote(browser, server):
    from app.api.sources import passage_link
    from app.schemas import SourceOut

    found = httpx.post(f"{server}/search", json={"query": "How do I install Sourced?"}).json()
    best = found["passages"][0]
    source = SourceOut(
        n=1, snippet="", cited=True, **{k: best[k] for k in ("document", "page", "locator")},
        score=best["score"], similarity=best["similarity"], chunk_id=best["chunk_id"],
        quote=best["quote"],
    )  # fmt: skip
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(passage_link(server, "default", source))
    page.wait_for_selector("#reader:not([hidden]) .passage.asked")
    assert "user-guide.pdf" in page.inner_text("#reader-title")
    assert page.inner_text("#reader .passage.asked mark") == best["quote"]["text"]
    context.close()


def test_a_cited_pdf_opens_at_its_page_with_the_quote_highlighted(page, tmp_path):
    page.wait_for_selector("#index option", state="attached")
    ask(page, "How do I install Sourced?")
    card = page.locator(".card").first
    assert "user-guide.pdf" in card.inner_text()
    cited_page = card.locator(".where").inner_text().split("·")[0].strip()  # "p. 2"
    page.locator(".turn.assistant").last.locator(".cite").first.click()
    view = page.locator("#reader .page-view[data-marks]")
    view.wait_for(timeout=30_000)
    assert f"p. {view.get_attribute('data-page')}" == cited_page
    assert int(view.get_attribute("data-marks")) >= 1
    # The highlight lies on the drawn page, and the page was drawn (not blank).
    sheet = page.locator("#reader .page-sheet").bounding_box()
    mark = page.locator("#reader .page-mark").first.bounding_box()
    for start, size in (("x", "width"), ("y", "height")):
        assert sheet[start] <= mark[start]
        assert mark[start] + mark[size] <= sheet[start] + sheet[size] + 1
    inked = page.evaluate(
        """() => { const c = document.querySelector('#reader canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let dark = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 128) dark++;
        return dark; }"""
    )
    assert inked > 1000, "the page's text was drawn"
    # The passage's text still follows, its quote marked.
    assert page.locator("#reader .passage.asked mark").count() == 1
    page.locator("#reader .page-mark").first.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "cited-page.png"))
    if os.environ.get("SOURCED_UPDATE_SCREENSHOT"):
        page.screenshot(path=str(ROOT / "docs" / "cited-page.png"))


def test_a_scanned_page_opens_with_the_ocr_words_highlighted(page, server):
    found = httpx.post(f"{server}/search", json={"query": "fire assembly point car park"}).json()
    best = found["passages"][0]
    assert best["document"] == "scans/warehouse-scan.pdf"
    start, end = best["quote"]["start"], best["quote"]["end"]
    page.goto(f"{server}/#passage=default/{best['chunk_id']}&start={start}&end={end}")
    view = page.locator("#reader .page-view[data-marks]")
    view.wait_for(timeout=30_000)
    assert view.get_attribute("data-page") == "2"
    words = len(best["quote"]["text"].split())
    assert int(view.get_attribute("data-marks")) == words


def test_the_original_file_is_served_only_as_ingested(server, tmp_path):
    files = f"{server}/indexes/default/files"
    pdf = httpx.get(f"{files}/user-guide.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline")
    for path, why in [
        ("release-notes.md", "not a PDF or an image"),
        ("absent.pdf", "no document"),
        ("..%2F..%2Fetc%2Fpasswd.pdf", "no document"),
    ]:
        response = httpx.get(f"{files}/{path}")
        assert response.status_code == 404, path
        assert why in response.json()["error"]["message"]
    assert httpx.get(f"{server}/indexes/absent/files/user-guide.pdf").status_code == 404


def test_options_are_labelled_usable_by_keyboard_sent_and_kept_for_the_session(page):
    page.wait_for_selector("#index option", state="attached")
    page.wait_for_selector("#file-types input", state="attached")
    page.focus("#options summary")
    page.keyboard.press("Enter")
    assert page.locator("#options").get_attribute("open") is not None
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "answer-mode"
    # Found by their labels: the names a screen reader reads out.
    page.get_by_label("Answer").select_option("extractive")
    page.get_by_label("Retrieval").select_option("bm25")
    page.get_by_label("Documents").fill("*.pdf")
    page.get_by_label("pdf", exact=True).check()
    page.get_by_label("from").fill("1")
    page.get_by_label("to", exact=True).fill("3")
    assert "quoted sentences only" in page.inner_text("#options-summary")
    body = ask(page, "How do I install Sourced?")
    assert body["answer_mode"] == "extractive" and body["retrieval_mode"] == "bm25"
    assert body["filters"] == {
        "documents": ["*.pdf"], "file_types": ["pdf"], "page_from": 1, "page_to": 3
    }  # fmt: skip
    assert "quoted from the sources" in page.locator(".turn.assistant .meta").last.inner_text()
    for card in page.locator(".card").all():
        where = card.locator(".where").inner_text()
        assert ".pdf" in card.inner_text() and int(where.split()[1]) <= 3
    page.reload()  # the same session keeps them
    page.wait_for_selector("#file-types input", state="attached")
    assert page.get_by_label("Answer").input_value() == "extractive"
    assert page.get_by_label("pdf", exact=True).is_checked()
    page.click("#options-reset")
    body = ask(page, "How do I install Sourced?")
    assert not {"answer_mode", "retrieval_mode", "filters"} & set(body)


def test_originals_and_document_lists_need_a_key_that_reaches_the_index(guarded_server):
    index = f"{guarded_server}/indexes/default"
    assert httpx.get(f"{index}/files/user-guide.pdf").status_code == 401
    docs_only = {"authorization": f"Bearer {DOCS_KEY}"}
    for path in ("files/user-guide.pdf", "documents"):
        response = httpx.get(f"{index}/{path}", headers=docs_only)
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    full = {"authorization": f"Bearer {FULL_KEY}"}
    assert httpx.get(f"{index}/files/user-guide.pdf", headers=full).content.startswith(b"%PDF")
    listed = httpx.get(f"{index}/documents", headers=full).json()
    assert "user-guide.pdf" in listed["documents"] and listed["index"] == "default"


def test_a_computed_answer_shows_its_value_query_and_rows(page):
    page.wait_for_selector("#index option", state="attached")
    page.click("#options summary")
    page.get_by_label("Answer").select_option("generative")
    ask(page, "How many tickets were closed by the Berlin office?")
    turn = page.locator(".turn.assistant").last
    # The fake model counts the rows: every row of the table is what it was computed from.
    assert turn.locator(".computed .value").inner_text() == "3"
    assert "Computed from 3 rows of tickets.csv" in turn.locator(".computed-from").inner_text()
    assert turn.locator(".computation .query").inner_text() == "SELECT COUNT(*) FROM tickets"
    header = turn.locator("table.rows th").all_inner_texts()
    assert header == ["row", "office", "month", "closed"]
    rows = [r.locator("td").all_inner_texts() for r in turn.locator("table.rows tbody tr").all()]
    assert rows == [["2", "Berlin", "May", "41"], ["3", "Paris", "May", "29"],
                    ["4", "Berlin", "June", "38"]]  # fmt: skip
    assert "computed by a query" in turn.locator(".meta").inner_text()
    page.click("#options-reset")
