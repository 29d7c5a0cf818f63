// A computed answer (answer_mode "computed") as the page shows it: the value, the query that
// computed it, and the rows it was computed from as a table, so a person can check each one.
// Built with DOM nodes and textContent only: cells are the documents' text.
"use strict";

(() => {
  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function rowsTable(computation) {
    const table = element("table", "rows");
    const names = computation.cited_rows.length ? Object.keys(computation.cited_rows[0].cells) : [];
    const head = table.createTHead().insertRow();
    for (const name of ["row", ...names]) head.append(element("th", "", name));
    const body = table.createTBody();
    for (const row of computation.cited_rows) {
      const line = body.insertRow();
      line.append(element("td", "row-number", String(row.row)));
      for (const name of names) {
        const value = row.cells[name];
        line.append(element("td", typeof value === "number" ? "number" : "", value === null ? "" : String(value)));
      }
    }
    return table;
  }

  // The answer's content: the value(s), then the query and the rows, folded open.
  function render(data) {
    const computation = data.computation;
    const box = element("div", "computed");
    box.append(element("p", "value", data.short_answer || "(nothing found)"));
    const count = computation.cited_row_count;
    const shown = computation.cited_rows.length;
    const from = `Computed from ${count} ${count === 1 ? "row" : "rows"} of ${computation.label}` +
      (shown < count ? ` (the first ${shown} shown)` : "");
    box.append(element("p", "computed-from", from));
    const details = element("details", "computation");
    details.open = true;
    details.append(element("summary", "", "Query and rows"));
    const query = element("pre", "query");
    query.append(element("code", "", computation.sql));
    details.append(query, rowsTable(computation));
    box.append(details);
    return box;
  }

  window.SourcedComputation = { render };
})();
