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
  return !view || (view.sort === null && !isSearch(view));
}

// Whether the view keeps only some rows: only then are they "matching".
export function isSearch(view) {
  return Boolean(view && (view.q || Object.keys(view.filters).length > 0));
}

// Whether a view shows the table as uploaded: every row, in file order, with the header the
// upload had (`asUploaded`: whether it had one; undefined when not known yet).
export function isWholeTable(view, asUploaded) {
  return isPlain(view) && (view.header === null || view.header === asUploaded);
}

// The same rows asked for: what the server answers for a view sent (empty filters dropped).
export function sameView(a, b) {
  const filters = (view) =>
    JSON.stringify(
      Object.entries(view.filters || {})
        .filter(([, text]) => text)
        .map(([column, text]) => [Number(column), text])
        .sort((x, y) => x[0] - y[0]),
    );
  return (
    a.sort === b.sort &&
    (a.sort === null || a.order === b.order) &&
    (a.q || "") === (b.q || "") &&
    filters(a) === filters(b) &&
    (a.header ?? null) === (b.header ?? null)
  );
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

// "sorted by amount ▼ · matching “ada” · city: “lima”" ("" for the whole table as uploaded)
export function describeView(view, columns, asUploaded) {
  if (!view || isWholeTable(view, asUploaded)) return "";
  const parts = [];
  if (view.sort !== null) parts.push(`sorted by ${columns[view.sort] ?? view.sort} ${view.order === "desc" ? "▼" : "▲"}`);
  if (view.q) parts.push(`matching “${view.q}”`);
  for (const [column, text] of Object.entries(view.filters)) parts.push(`${columns[column] ?? column}: “${text}”`);
  if (view.header !== null && view.header !== asUploaded) {
    parts.push(view.header ? "first row as the header" : "no header row");
  }
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

// The bar above the table: search, the header switch, what one's own view is (the group's
// is said over the table, with who set it), and the downloads of what is shown.
//   context: { oldVersion, following, edit, me, asUploaded }
export function renderViewBar(page, { oldVersion = null, following = false, edit = false, me = "", asUploaded } = {}) {
  const view = page.view || PLAIN;
  if (document.activeElement !== $("search")) $("search").value = view.q;
  $("header-toggle").checked = page.has_header;
  const described = describeView(view, page.columns, asUploaded);
  const shared = following && described !== "";
  $("view-note").textContent = described && !shared ? `Your view: ${described}` : "";
  // Clear for everyone is an editor's (a view link's "clear" is browsing the whole table
  // alone, which the group's note offers); on one's own, it clears one's own view
  $("clear-view").hidden = described === "" || (shared && !edit);
  $("clear-view").textContent = shared ? "Clear for everyone" : "Clear";
  $("group-view").hidden = !shared;
  if (shared) {
    const by = view.by ? ` — set by ${view.by === me ? "you" : view.by}` : "";
    $("group-view-text").textContent = `Following the group's view: ${described}${by}.`;
  }
  for (const format of ["tsv", "csv", "jsonl"]) {
    $(`download-${format}`).href = downloadUrl(page.id, format, view, oldVersion);
  }
  $("download-original").href = downloadUrl(page.id, "original", null, oldVersion);
}

// change(changes): a new view; header(checked): the header switch (the app knows whether
// that is the table as uploaded); alone(): browse the whole table on one's own.
export function bindViewBar({ change, header, alone }) {
  let typing = null;
  $("search").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => change({ q: $("search").value }), 300);
  });
  $("header-toggle").addEventListener("change", () => header($("header-toggle").checked));
  $("clear-view").addEventListener("click", () => change({ ...PLAIN }));
  $("group-alone").addEventListener("click", () => alone());
  bindDownloads();
}

// The Download menu closes on Escape (focus back on its button), on a click elsewhere, and
// once a download is chosen.
function bindDownloads() {
  const menu = document.querySelector(".downloads");
  const close = (focus) => {
    if (!menu.open) return;
    menu.open = false;
    if (focus) menu.querySelector("summary").focus();
  };
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.open) {
      close(true);
      event.preventDefault();
    }
  });
  document.addEventListener("click", (event) => {
    if (!menu.contains(event.target)) close(false);
  });
  for (const link of menu.querySelectorAll(".menu a")) link.addEventListener("click", () => close(false));
}
