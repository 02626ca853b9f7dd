// Views: how rows are sorted and searched, as the server's `view` object says, and the HTTP
// side of the app (old versions, downloads, restore), which speaks the same parameters.

export const PLAIN = { sort: null, order: "asc", q: "", filters: {}, header: null };

const NAME_KEY = "tablecast:name";

// Shown to the others as who changed the shared view. Made up once, kept in this browser.
export function myName() {
  try {
    let name = localStorage.getItem(NAME_KEY);
    if (!name) {
      name = `Guest ${1000 + Math.floor(Math.random() * 9000)}`;
      localStorage.setItem(NAME_KEY, name);
    }
    return name;
  } catch {
    return "Guest";
  }
}

export function isPlain(view) {
  return !view || (view.sort === null && !view.q && Object.keys(view.filters).length === 0);
}

// The next sort when a column header is clicked: ascending, descending, then file order.
export function nextSort(view, column) {
  if (view.sort !== column) return { sort: column, order: "asc" };
  if (view.order === "asc") return { sort: column, order: "desc" };
  return { sort: null, order: "asc" };
}

export function withFilter(view, column, text) {
  const filters = { ...view.filters };
  if (text) filters[String(column)] = text;
  else delete filters[String(column)];
  return { filters };
}

// "Sorted by amount ▼ · matching “ada” · city: “lima” · by Guest 4821"
export function describeView(view, columns) {
  if (!view || isPlain(view)) return view && view.by ? `File order · by ${view.by}` : "";
  const parts = [];
  if (view.sort !== null) parts.push(`Sorted by ${columns[view.sort] ?? view.sort} ${view.order === "desc" ? "▼" : "▲"}`);
  if (view.q) parts.push(`matching “${view.q}”`);
  for (const [column, text] of Object.entries(view.filters)) parts.push(`${columns[column] ?? column}: “${text}”`);
  if (view.by) parts.push(`by ${view.by}`);
  return parts.join(" · ");
}

// The view as query parameters of the HTTP API.
export function viewQuery(view, version) {
  const params = new URLSearchParams();
  if (view) {
    if (view.sort !== null) params.set("sort", view.sort);
    if (view.sort !== null && view.order === "desc") params.set("order", "desc");
    if (view.q) params.set("q", view.q);
    for (const [column, text] of Object.entries(view.filters)) params.set(`filter.${column}`, text);
    if (view.header !== null) params.set("header", view.header ? "1" : "0");
  }
  if (version) params.set("version", version);
  return params;
}

export function api(documentId) {
  return `/parser/api/docs/${documentId}`;
}

export function downloadUrl(documentId, format, view, version) {
  const params = viewQuery(view, version);
  params.set("format", format);
  return `${api(documentId)}/download?${params}`;
}

export async function json(response) {
  const body = await response.json();
  if (!response.ok) throw Object.assign(new Error(body.error.message), { code: body.error.code });
  return body;
}

export async function fetchPage(documentId, version, view, pageNo) {
  return json(await fetch(`${api(documentId)}/pages/${pageNo}?${viewQuery(view, version)}`));
}

const $ = (id) => document.getElementById(id);

// The bar above the table: search, the header switch, what the view is and who set it, and
// the downloads of what is shown.
export function renderViewBar(page, oldVersion) {
  const view = page.view || PLAIN;
  if (document.activeElement !== $("search")) $("search").value = view.q;
  $("header-toggle").checked = page.has_header;
  $("view-note").textContent = describeView(view, page.columns);
  $("clear-view").hidden = isPlain(view) && view.header === null;
  for (const format of ["tsv", "csv", "jsonl"]) {
    $(`download-${format}`).href = downloadUrl(page.id, format, view, oldVersion);
  }
  $("download-original").href = downloadUrl(page.id, "original", null, oldVersion);
}

export function bindViewBar(change) {
  let typing = null;
  $("search").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => change({ q: $("search").value }), 300);
  });
  $("header-toggle").addEventListener("change", () => change({ header: $("header-toggle").checked }));
  $("clear-view").addEventListener("click", () => change({ ...PLAIN }));
}
