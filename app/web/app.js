// Sourced's chat page. Everything from the server or the documents is put on the page as text
// (textContent, or HTML built only from escaped text): no HTML from answers or documents runs.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { history: [], controller: null, sources: [] };

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// A small, safe Markdown: paragraphs, lists, **bold**, *italics*, `code`, and [n] citations.
// Links are shown as text and images are never fetched.
function renderMarkdown(text) {
  const inline = (line) =>
    escapeHtml(line)
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
      .replace(/\[(\d+(?:\s*[,;]\s*\d+)*)\]/g, (_, nums) =>
        nums.split(/[,;]/).map((n) => `<button type="button" class="cite" data-n="${Number(n)}">[${Number(n)}]</button>`).join(""));
  const blocks = text.trim().split(/\n{2,}/);
  return blocks.map((block) => {
    const lines = block.split("\n");
    if (lines.every((l) => /^\s*[-*] /.test(l))) {
      return "<ul>" + lines.map((l) => `<li>${inline(l.replace(/^\s*[-*] /, ""))}</li>`).join("") + "</ul>";
    }
    return `<p>${lines.map(inline).join("<br>")}</p>`;
  }).join("");
}

// API keys: a server with keys answers 401. The page then asks for the key once, keeps it for
// this browser session (sessionStorage, gone when the tab closes) and sends it as a bearer token.
const KEY = "sourced-api-key";
let keyPrompt = null; // the open prompt, shared by every request that is waiting for a key

async function api(url, options = {}) {
  for (;;) {
    const key = sessionStorage.getItem(KEY);
    const headers = { ...(options.headers || {}) };
    if (key) headers.authorization = `Bearer ${key}`;
    const response = await fetch(url, { ...options, headers });
    if (response.status !== 401) return response;
    const retry = await askForKey(key ? "That key was not accepted. Enter a valid API key:" : "This server needs an API key:");
    if (!retry) return response;
  }
}

function askForKey(message) {
  keyPrompt ??= new Promise((resolve) => {
    const dialog = $("key-dialog");
    $("key-message").textContent = message;
    $("key").value = "";
    dialog.addEventListener("close", () => {
      const key = dialog.returnValue === "use" ? $("key").value.trim() : "";
      if (key) sessionStorage.setItem(KEY, key);
      keyPrompt = null;
      resolve(Boolean(key));
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
  return keyPrompt;
}

function notice(message) {
  $("notice").textContent = message || "";
  $("notice").hidden = !message;
}

async function loadIndexes() {
  try {
    const response = await api("/indexes");
    if (!response.ok) {
      notice((await response.json()).error.message);
      return;
    }
    const indexes = await response.json();
    const select = $("index");
    select.replaceChildren();
    for (const index of indexes) {
      const option = document.createElement("option");
      option.value = index.name;
      option.textContent = `${index.name} (${index.documents} documents)`;
      select.append(option);
    }
    if (!indexes.length) {
      notice("There is no index yet. Build one with: sourced ingest FOLDER --index default, or drop files below.");
    } else if ($("notice").textContent.startsWith("There is no index yet")) {
      notice("");
    }
  } catch {
    notice("The server cannot be reached.");
  }
}

function addTurn(role, text) {
  const item = document.createElement("li");
  item.className = `turn ${role}`;
  item.textContent = text;
  $("conversation").append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

function renderSources(sources, cited = new Set()) {
  state.sources = sources;
  $("no-sources").hidden = sources.length > 0;
  const cards = $("cards");
  cards.replaceChildren();
  for (const source of sources) {
    const card = document.createElement("li");
    card.className = "card" + (cited.has(source.n) ? " cited" : "");
    card.id = `source-${source.n}`;
    card.tabIndex = 0;
    const head = document.createElement("div");
    head.className = "head";
    for (const [cls, text] of [["n", `[${source.n}]`], ["doc", source.document], ["score", `similarity ${source.similarity.toFixed(2)}`]]) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      head.append(span);
    }
    const where = document.createElement("div");
    where.className = "where";
    where.textContent = source.locator;
    const snippet = document.createElement("div");
    snippet.className = "snippet";
    snippet.textContent = source.snippet;
    card.append(head, where, snippet);
    if (source.quote) {
      // The sentence that supports the answer, and whether it does.
      const quote = document.createElement("blockquote");
      quote.className = "quote";
      quote.textContent = source.quote.text;
      card.append(quote);
    }
    if (source.verified !== null && source.verified !== undefined) {
      const badge = document.createElement("span");
      badge.className = source.verified ? "badge verified" : "badge unverified";
      badge.textContent = source.verified ? "supports the answer" : "cited, but does not support it";
      head.append(badge);
    }
    card.addEventListener("click", () => openSource(source.n));
    cards.append(card);
  }
}

async function openSource(n) {
  const source = state.sources.find((s) => s.n === n);
  if (!source) return;
  document.querySelectorAll(".card.active").forEach((c) => c.classList.remove("active"));
  const card = $(`source-${n}`);
  card.classList.add("active");
  card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  const title = `[${n}] ${source.document}${source.locator ? " · " + source.locator : ""}`;
  await showPassage($("index").value, source.chunk_id, title, source.quote);
}

// A passage in place, with its neighbours; `quote` (offsets into the passage, and the text
// expected there when known) is marked.
async function showPassage(index, chunkId, title, quote = null) {
  const response = await api(`/indexes/${encodeURIComponent(index)}/chunks/${encodeURIComponent(chunkId)}?around=1`);
  const body = await response.json();
  $("reader").hidden = false;
  const reader = $("reader-body");
  reader.replaceChildren();
  if (!response.ok) {
    $("reader-title").textContent = title || "Passage";
    reader.textContent = body.error ? body.error.message : "This passage cannot be shown.";
    return;
  }
  const asked = body.chunks[body.position];
  $("reader-title").textContent = title || `${asked.document}${asked.locator ? " · " + asked.locator : ""}`;
  if (asked.viewable) await showOriginal(reader, index, asked, quote);
  body.chunks.forEach((chunk, i) => {
    const passage = document.createElement("div");
    passage.className = "passage" + (i === body.position ? " asked" : "");
    const marked = i === body.position ? quote : null;
    const found = marked ? chunk.text.slice(marked.start, marked.end) : "";
    if (found && (marked.text === undefined || found === marked.text)) {
      const mark = document.createElement("mark");
      mark.textContent = found;
      passage.append(chunk.text.slice(0, marked.start), mark, chunk.text.slice(marked.end));
    } else {
      passage.textContent = chunk.text;
    }
    reader.append(passage);
  });
  reader.querySelector(".asked")?.scrollIntoView({ block: "nearest" });
}

// The cited page of a PDF (or the scanned image), the quote highlighted on it; the passage's
// text follows below. When the original cannot be shown, a note says why.
async function showOriginal(reader, index, chunk, quote) {
  const url = `/indexes/${encodeURIComponent(index)}/files/${chunk.document.split("/").map(encodeURIComponent).join("/")}`;
  const found = quote && chunk.text.slice(quote.start, quote.end);
  const marked = found && (quote.text === undefined || found === quote.text)
    ? { start: quote.start, end: quote.end, text: found, boxes: chunk.boxes }
    : { start: 0, end: chunk.text.length, text: chunk.text, boxes: chunk.boxes };
  const fetchFile = async (address) => {
    const response = await api(address);
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : `the file cannot be fetched (${response.status})`);
    }
    return response;
  };
  const holder = document.createElement("div");
  holder.className = "original";
  reader.append(holder);
  try {
    if (/\.pdf$/i.test(chunk.document) && chunk.page) {
      await window.SourcedViewer.showPdfPage(holder, url, fetchFile, chunk.page, marked);
    } else if (!/\.pdf$/i.test(chunk.document)) {
      await window.SourcedViewer.showImage(holder, url, fetchFile, marked);
    }
  } catch (error) {
    holder.replaceChildren(Object.assign(document.createElement("p"), {
      className: "muted", textContent: `The page cannot be shown: ${error.message}`,
    }));
  }
}

// A link to a passage (the sources other clients show link here):
// /#passage=INDEX/CHUNK_ID, optionally &start=N&end=M to mark the quote.
async function openLinkedPassage() {
  const params = new URLSearchParams(location.hash.slice(1));
  const target = params.get("passage");
  if (!target || !target.includes("/")) return;
  const [index, chunkId] = target.split("/", 2);
  if ([...$("index").options].some((o) => o.value === index)) $("index").value = index;
  const start = Number(params.get("start")), end = Number(params.get("end"));
  const quote = end > start ? { start, end } : null;  // the text is the passage's own
  await showPassage(index, chunkId, null, quote);
}

// Server-Sent Events over fetch (EventSource cannot POST).
async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      yield [name, JSON.parse(data)];
    }
  }
}

function errorMessage(error) {
  if (error.code === "llm_error" || error.code === "llm_timeout") {
    return `The language model is unavailable: ${error.message}`;
  }
  return error.message;
}

async function ask(question) {
  notice("");
  addTurn("user", question);
  const answer = addTurn("assistant", "");
  answer.classList.add("streaming");
  const controller = new AbortController();
  state.controller = controller;
  $("send").disabled = true;
  $("stop").hidden = false;
  let text = "";
  try {
    const response = await api("/ask", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        question, index: $("index").value || undefined, history: state.history, stream: true,
        ...window.SourcedOptions.request(),
      }),
      signal: controller.signal,
    });
    if (!response.ok) {
      const body = await response.json();
      throw Object.assign(new Error(), { detail: body.error });
    }
    for await (const [name, data] of readEvents(response)) {
      if (name === "sources") renderSources(data.sources);
      else if (name === "token") {
        text += data.text;
        answer.innerHTML = renderMarkdown(text);
      } else if (name === "error") throw Object.assign(new Error(), { detail: data.error });
      else if (name === "done") {
        text = data.answer;
        if (data.answer_mode === "computed") {
          answer.replaceChildren(window.SourcedComputation.render(data));
        } else {
          answer.innerHTML = renderMarkdown(text || "(no answer)");
        }
        renderSources(data.sources, new Set(data.sources.filter((s) => s.cited).map((s) => s.n)));
        const meta = document.createElement("div");
        meta.className = "meta";
        const how = { generative: data.model, short: `short answer · ${data.model}`, extractive: "quoted from the sources", computed: `computed by a query · ${data.model}` }[data.answer_mode] || "no answer";
        const grounded = data.answer_mode === "generative" ? ` · grounded ${Math.round(data.grounded * 100)}%` : "";
        meta.textContent = `${how}${grounded} · ${Math.round(data.timings_ms.total)} ms`;
        if (data.query !== question) meta.textContent += ` · searched for: ${data.query}`;
        answer.append(meta);
        if (data.notice) notice(data.notice);
        else if (!data.answerable) notice("The documents do not seem to contain the answer.");
      }
    }
    state.history.push({ role: "user", content: question }, { role: "assistant", content: text });
  } catch (error) {
    if (error.name === "AbortError") {
      answer.innerHTML = renderMarkdown(text + " …");
      answer.append(Object.assign(document.createElement("div"), { className: "meta", textContent: "stopped" }));
    } else {
      answer.classList.add("error");
      answer.textContent = error.detail ? errorMessage(error.detail) : "The server cannot be reached.";
    }
  } finally {
    answer.classList.remove("streaming");
    state.controller = null;
    $("send").disabled = false;
    $("stop").hidden = true;
  }
}

$("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question || state.controller) return;
  $("question").value = "";
  ask(question);
});
$("question").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("ask").requestSubmit();
  }
});
$("stop").addEventListener("click", () => state.controller?.abort());
$("conversation").addEventListener("click", (event) => {
  const cite = event.target.closest(".cite");
  if (cite) openSource(Number(cite.dataset.n));
});
$("reader-close").addEventListener("click", () => { $("reader").hidden = true; });
$("index").addEventListener("change", () => { state.history = []; loadDocuments(); });

// The selected index's documents, for the options' filters.
async function loadDocuments() {
  const index = $("index").value;
  if (!index) return;
  try {
    const response = await api(`/indexes/${encodeURIComponent(index)}/documents`);
    if (response.ok) window.SourcedOptions.setDocuments((await response.json()).documents);
  } catch {
    // the filters still take typed globs
  }
}
async function upload(files) {
  if (!files.length) return;
  const index = $("index").value || "default";
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const list = $("uploads");
  list.replaceChildren(Object.assign(document.createElement("li"), { textContent: `Adding ${files.length} file(s) to ${index}…` }));
  try {
    const response = await api(`/indexes/${encodeURIComponent(index)}/documents`, { method: "POST", body: form });
    const body = await response.json();
    list.replaceChildren();
    if (!response.ok) throw Object.assign(new Error(), { detail: body.error });
    for (const result of body.files) {
      const item = document.createElement("li");
      const ok = ["added", "updated", "unchanged"].includes(result.status);
      item.className = ok ? "ok" : "bad";
      item.textContent = `${result.name}: ${result.status}${result.reason ? " (" + result.reason + ")" : ""}`;
      list.append(item);
    }
    await loadIndexes();
    $("index").value = index;
    await loadDocuments();
  } catch (error) {
    list.replaceChildren(Object.assign(document.createElement("li"), {
      className: "bad", textContent: error.detail ? error.detail.message : "The upload failed.",
    }));
  }
}

$("files").addEventListener("change", (event) => upload([...event.target.files]));
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  upload([...event.dataTransfer.files]);
});
window.addEventListener("hashchange", openLinkedPassage);
loadIndexes().then(() => Promise.all([openLinkedPassage(), loadDocuments()]));
