// The page's options: answer mode, retrieval mode and filters (documents, file types, pages),
// sent with each question as POST /ask takes them. They last for the browser session
// (sessionStorage), like the API key; every control is a labelled form control.
"use strict";

(() => {
  const STORE = "sourced-options";
  const byId = (id) => document.getElementById(id);
  const fields = { answer: "answer-mode", retrieval: "retrieval-mode", documents: "filter-documents", from: "page-from", to: "page-to" };
  let saved = {};
  try { saved = JSON.parse(sessionStorage.getItem(STORE) || "{}") || {}; } catch { saved = {}; }

  function checkedTypes() {
    return [...byId("file-types").querySelectorAll("input:checked")].map((box) => box.value);
  }

  function current() {
    const values = Object.fromEntries(Object.entries(fields).map(([key, id]) => [key, byId(id).value.trim()]));
    values.types = checkedTypes();
    return values;
  }

  function save() {
    saved = current();
    sessionStorage.setItem(STORE, JSON.stringify(saved));
    summarize();
  }

  // A few words beside "Options" saying what is not the default (read out when it changes).
  function summarize() {
    const { answer, retrieval, documents, from, to, types } = current();
    const parts = [];
    if (answer) parts.push(byId(fields.answer).selectedOptions[0].textContent);
    if (retrieval) parts.push(`retrieval: ${retrieval}`);
    if (documents) parts.push(`documents: ${documents}`);
    if (types.length) parts.push(`types: ${types.join(", ")}`);
    if (from || to) parts.push(`pages ${from || "1"}–${to || "end"}`);
    byId("options-summary").textContent = parts.length ? `· ${parts.join(" · ")}` : "";
  }

  // The index's documents: names offered for the documents filter, and one checkbox per type.
  function setDocuments(paths) {
    const list = byId("document-names");
    list.replaceChildren(...paths.map((path) => Object.assign(document.createElement("option"), { value: path })));
    const types = [...new Set(paths.map((p) => (p.match(/\.([^./]+)$/) || [])[1]).filter(Boolean).map((t) => t.toLowerCase()))].sort();
    const box = byId("file-types");
    box.querySelectorAll("label").forEach((label) => label.remove());
    const wanted = new Set(saved.types || []);
    for (const type of types) {
      const label = document.createElement("label");
      const input = Object.assign(document.createElement("input"), { type: "checkbox", value: type, checked: wanted.has(type) });
      label.append(input, type);
      box.append(label);
    }
    summarize();
  }

  // The fields of an /ask request that the options set (none when all are defaults).
  function request() {
    const { answer, retrieval, documents, from, to, types } = current();
    const body = {};
    if (answer) body.answer_mode = answer;
    if (retrieval) body.retrieval_mode = retrieval;
    const filters = {};
    const globs = documents.split(",").map((g) => g.trim()).filter(Boolean);
    if (globs.length) filters.documents = globs;
    if (types.length) filters.file_types = types;
    if (from) filters.page_from = Number(from);
    if (to) filters.page_to = Number(to);
    if (Object.keys(filters).length) body.filters = filters;
    return body;
  }

  function reset() {
    for (const id of Object.values(fields)) byId(id).value = "";
    byId("file-types").querySelectorAll("input").forEach((box) => { box.checked = false; });
    save();
  }

  for (const [key, id] of Object.entries(fields)) byId(id).value = saved[key] || "";
  byId("options").addEventListener("change", save);
  byId("options").addEventListener("input", save);
  byId("options-reset").addEventListener("click", reset);
  if (Object.values(saved).some((v) => (Array.isArray(v) ? v.length : v))) byId("options").open = true;
  summarize();
  window.SourcedOptions = { request, setDocuments };
})();
