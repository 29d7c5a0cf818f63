"""The HTML loader: a saved web page's readable text under its headings; what is not the page's
text (scripts, styles, navigation, hidden elements) is dropped, and nothing is fetched."""

from __future__ import annotations

import time

import pytest

from ingest.errors import LoadError, SkipFile
from ingest.loaders import html

from .hostile_files import html_nested_deep

PAGE = """<!doctype html>
<html><head><title>Guide</title><meta charset="utf-8">
<style>p { color: red }</style><script>document.write("injected")</script>
<link rel="stylesheet" href="http://127.0.0.1:9/style.css"></head>
<body><nav><a href="/">Home</a> | <a href="/docs">Docs</a></nav>
<header>Site header</header>
<h1>Installing Sourced</h1>
<p>Sourced needs <b>Python&nbsp;3.11</b> or newer.</p><p>Run <code>make run</code>.</p>
<div hidden>hidden text</div><p style="display: none">invisible text</p>
<h2>Settings</h2>
<table><tr><th>Setting</th><th>Default</th></tr>
<tr><td>SOURCED_TOP_K</td><td>5</td></tr><tr><td>SOURCED_PORT</td><td>8000</td></tr></table>
<pre>make run
  then ask</pre>
<h2>Offline</h2>
<ul><li>No internet &amp; no hub</li><li>Models ship as packages</li></ul>
<img src="http://127.0.0.1:9/pipeline.png" alt="The pipeline, from files to answers">
<footer>Copyright</footer></body></html>
"""


def units(tmp_path, text: str, name: str = "page.html"):
    path = tmp_path / name
    path.write_text(text)
    return html.load(path).units


def test_sections_under_their_heading_paths(tmp_path):
    found = units(tmp_path, PAGE)
    assert [u.source.headings for u in found] == [
        ("Installing Sourced",),
        ("Installing Sourced", "Settings"),
        ("Installing Sourced", "Offline"),
    ]
    assert found[0].text == "Sourced needs Python 3.11 or newer.\n\nRun make run."
    assert "Setting: SOURCED_TOP_K; Default: 5\n\nSetting: SOURCED_PORT; Default: 8000" in (
        found[1].text
    )
    assert "make run\n  then ask" in found[1].text  # preformatted text keeps its spacing
    assert found[2].text.splitlines()[0] == "No internet & no hub"
    assert found[2].text.endswith("The pipeline, from files to answers")  # an image's alt text
    assert found[0].source.locator() == "Installing Sourced"


def test_what_is_not_the_pages_text_is_dropped(tmp_path):
    text = "\n".join(u.text for u in units(tmp_path, PAGE))
    for dropped in ("injected", "color", "Home", "Site header", "hidden", "invisible", "Copyright"):
        assert dropped not in text, dropped
    assert "Guide" not in text and "127.0.0.1" not in text


def test_broken_markup_is_read_as_browsers_would(tmp_path):
    found = units(tmp_path, "<h1>Title<p>First <b>bold <i>both</b> after</p></div></span><p>Last")
    assert [u.source.headings for u in found] == [("Title",)]
    assert found[0].text == "First bold both after\n\nLast"


def test_deep_nesting_is_read_without_recursion(tmp_path):
    started = time.perf_counter()
    found = html.load(html_nested_deep(tmp_path / "deep.html")).units
    assert [u.text for u in found] == ["The deepest sentence."]
    assert time.perf_counter() - started < 30


def test_pages_without_text_are_skipped_and_binary_fails(tmp_path):
    with pytest.raises(SkipFile, match="no readable text"):
        units(tmp_path, "<script>x()</script><nav>Home</nav>")
    (tmp_path / "binary.html").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(LoadError, match="binary"):
        html.load(tmp_path / "binary.html")
