// The cited page itself: a PDF page drawn by PDF.js (vendor/pdfjs, served by the app), or the
// scanned image, with the quoted passage highlighted on it. Text from the file is only drawn
// on a canvas or measured, never put into the page as HTML.
"use strict";

const PDFJS = "/static/vendor/pdfjs/";
let pdfjs = null; // the PDF.js module, imported on first use
const documents = new Map(); // url → Promise of a loaded PDF document (one fetch per file)

async function loadPdfjs() {
  if (!pdfjs) {
    pdfjs = await import(`${PDFJS}pdf.min.mjs`);
    pdfjs.GlobalWorkerOptions.workerSrc = `${PDFJS}pdf.worker.min.mjs`;
  }
  return pdfjs;
}

async function openPdf(url, fetchFile) {
  if (!documents.has(url)) {
    const loading = (async () => {
      const lib = await loadPdfjs();
      const data = new Uint8Array(await (await fetchFile(url)).arrayBuffer());
      // No eval (the page's Content-Security-Policy forbids it); fonts a PDF does not embed
      // come from the vendored standard fonts.
      return lib.getDocument({ data, isEvalSupported: false, standardFontDataUrl: `${PDFJS}standard_fonts/` }).promise;
    })();
    loading.catch(() => documents.delete(url));
    documents.set(url, loading);
  }
  return documents.get(url);
}

// Letters and digits only, lowercased: the text layer PDF.js reads and the one the index holds
// differ in spacing, hyphenation and ligatures, not in these.
function squeeze(text) {
  let out = "";
  for (const ch of text.normalize("NFKC").toLowerCase()) if (/[\p{L}\p{N}]/u.test(ch)) out += ch;
  return out;
}

// Where `quote` lies in the page's text items: [item, first char, last char] triples.
function findInItems(items, quote) {
  const wanted = squeeze(quote);
  if (!wanted) return [];
  let page = "";
  const owner = []; // for each squeezed character: [item index, char index in item.str]
  items.forEach((item, i) => {
    [...item.str].forEach((ch, j) => {
      const kept = squeeze(ch);
      for (const c of kept) { page += c; owner.push([i, j]); }
    });
  });
  let at = page.indexOf(wanted);
  let length = wanted.length;
  if (at < 0) { // the quote may run past the page or differ at its ends: its middle part then
    const middle = wanted.slice(Math.floor(wanted.length / 4), Math.floor(wanted.length * 3 / 4));
    at = middle.length >= 12 ? page.indexOf(middle) : -1;
    length = middle.length;
  }
  if (at < 0) return [];
  const spans = new Map();
  for (let k = at; k < at + length; k++) {
    const [i, j] = owner[k];
    const span = spans.get(i) || [j, j];
    spans.set(i, [Math.min(span[0], j), Math.max(span[1], j)]);
  }
  return [...spans].map(([i, [first, last]]) => [i, first, last]);
}

function highlight(layer, left, top, width, height) {
  const mark = document.createElement("div");
  mark.className = "page-mark";
  mark.style.left = `${left}%`;
  mark.style.top = `${top}%`;
  mark.style.width = `${width}%`;
  mark.style.height = `${height}%`;
  layer.append(mark);
  return mark;
}

// OCR'd text: the words' boxes (fractions of the page) that the quote's offsets cover.
function markBoxes(layer, boxes, start, end) {
  const marks = [];
  for (const [s, e, x0, y0, x1, y1] of boxes) {
    if (s < end && e > start) marks.push(highlight(layer, x0 * 100, y0 * 100, (x1 - x0) * 100, (y1 - y0) * 100));
  }
  return marks;
}

function markText(layer, lib, viewport, items, quote) {
  const marks = [];
  for (const [i, first, last] of findInItems(items, quote)) {
    const item = items[i];
    const [a, b, c, d, x, y] = lib.Util.transform(viewport.transform, item.transform);
    const fontHeight = Math.hypot(c, d) || Math.hypot(a, b);
    const width = item.width * viewport.scale;
    const chars = Math.max([...item.str].length, 1);
    const left = x + width * (first / chars);
    const right = x + width * ((last + 1) / chars);
    marks.push(highlight(layer, left / viewport.width * 100, (y - fontHeight) / viewport.height * 100,
      (right - left) / viewport.width * 100, fontHeight * 1.2 / viewport.height * 100));
  }
  return marks;
}

function pageFrame(label) {
  const frame = document.createElement("figure");
  frame.className = "page-view";
  frame.setAttribute("aria-label", label);
  const sheet = document.createElement("div");
  sheet.className = "page-sheet";
  const layer = document.createElement("div");
  layer.className = "page-marks";
  frame.append(sheet);
  return { frame, sheet, layer };
}

// Shows `page` of the PDF at `url` in `container`, the quote highlighted; returns how many
// highlights were drawn.
async function showPdfPage(container, url, fetchFile, pageNumber, quote) {
  const lib = await loadPdfjs();
  const pdf = await openPdf(url, fetchFile);
  const page = await pdf.getPage(pageNumber);
  const { frame, sheet, layer } = pageFrame(`Page ${pageNumber} of the document`);
  container.append(frame);
  const base = page.getViewport({ scale: 1 });
  const scale = Math.max(sheet.clientWidth || container.clientWidth || 500, 200) / base.width;
  const viewport = page.getViewport({ scale });
  const ratio = window.devicePixelRatio || 1;
  const canvas = document.createElement("canvas");
  canvas.width = Math.floor(viewport.width * ratio);
  canvas.height = Math.floor(viewport.height * ratio);
  canvas.className = "page-canvas";
  sheet.append(canvas, layer);
  await page.render({
    canvas,
    canvasContext: canvas.getContext("2d"),
    viewport,
    transform: ratio !== 1 ? [ratio, 0, 0, ratio, 0, 0] : null,
  }).promise;
  let marks = [];
  if (quote.boxes.length) marks = markBoxes(layer, quote.boxes, quote.start, quote.end);
  else if (quote.text) marks = markText(layer, lib, viewport, (await page.getTextContent()).items, quote.text);
  frame.dataset.page = String(pageNumber);
  frame.dataset.marks = String(marks.length);
  marks[0]?.scrollIntoView({ block: "center" });
  return marks.length;
}

// Shows the image at `url`, the quote's OCR'd words highlighted.
async function showImage(container, url, fetchFile, quote) {
  const blob = await (await fetchFile(url)).blob();
  const { frame, sheet, layer } = pageFrame("The document's image");
  const image = document.createElement("img");
  image.className = "page-canvas";
  image.alt = "";
  await new Promise((resolve, reject) => {
    image.onload = resolve;
    image.onerror = reject;
    image.src = URL.createObjectURL(blob);
  });
  sheet.append(image, layer);
  container.append(frame);
  const marks = markBoxes(layer, quote.boxes, quote.start, quote.end);
  frame.dataset.marks = String(marks.length);
  marks[0]?.scrollIntoView({ block: "center" });
  return marks.length;
}

window.SourcedViewer = { showPdfPage, showImage };
