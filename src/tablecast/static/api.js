// Every HTTP call the app makes to the server's API (docs/protocol.md, "HTTP API"): pages of
// old versions, the versions list, restoring one, another sheet of a workbook, what changed
// between two, column profiles, facet values, cells set, rows added and deleted, and the links
// of downloads. A failed call throws an Error with the server's error `code`.

import { facetList } from "./views.js";
import { API_PATH } from "./wire.js";

// Versions the list shows at first, and adds each time older ones are asked for: the panel
// stays a few hundred elements however long the history (20,000 versions listed whole were
// 120,000 elements and a 2 s frame).
export const VERSIONS_PAGE = 50;

export function documentPath(documentId) {
  return `${API_PATH}/${documentId}`;
}

// A view (sort, search, filters, facets, types, header) as the API's query parameters, and
// which version.
export function viewQuery(view, version) {
  const params = new URLSearchParams();
  if (view) {
    if (view.sort !== null) params.set("sort", view.sort);
    if (view.sort !== null && view.order === "desc") params.set("order", "desc");
    if (view.q) params.set("q", view.q);
    for (const [column, text] of Object.entries(view.filters)) params.set(`filter.${column}`, text);
    for (const [column, values] of facetList(view)) {
      for (const value of values) params.append(`facet.${column}`, value);
    }
    for (const [column, type] of Object.entries(view.types || {})) params.set(`type.${column}`, type);
    if (view.header !== null) params.set("header", view.header ? "1" : "0");
  }
  if (version) params.set("version", version);
  return params;
}

// A download's link: a link, not a call, so that the browser saves the file as it streams.
export function downloadUrl(documentId, format, view, version) {
  const params = viewQuery(view, version);
  params.set("format", format);
  return `${documentPath(documentId)}/download?${params}`;
}

async function json(response) {
  const body = await response.json();
  if (!response.ok) throw Object.assign(new Error(body.error.message), { code: body.error.code });
  return body;
}

// A page of a version in a view: what an old version is browsed with.
export async function fetchPage(documentId, version, view, pageNo) {
  return json(await fetch(`${documentPath(documentId)}/pages/${pageNo}?${viewQuery(view, version)}`));
}

// A page of versions, newest first: those numbered below `before` (null: from the newest).
export async function fetchVersions(documentId, before = null, limit = VERSIONS_PAGE) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (before !== null) params.set("before", String(before));
  return json(await fetch(`${documentPath(documentId)}/versions?${params}`));
}

// A version made current again, as a new version; only an edit key may.
export async function restoreVersion(documentId, version, editKey) {
  const headers = editKey ? { Authorization: `Bearer ${editKey}` } : {};
  return json(await fetch(`${documentPath(documentId)}/versions/${version}/restore`, { method: "POST", headers }));
}

// The document's workbook read again, sheet `sheet` this time, as a new version; only an edit
// key may. The answer: the document's metadata (its `version`, the one made).
export async function readSheet(documentId, sheet, editKey) {
  const headers = editKey ? { Authorization: `Bearer ${editKey}` } : {};
  const params = new URLSearchParams({ sheet });
  return json(await fetch(`${documentPath(documentId)}/sheet?${params}`, { method: "POST", headers }));
}

// Cells set (`cells`: [{ row, column, value }], rows numbered as version `version` numbers them,
// columns from 0), as a new version; only an edit key may. The answer: its metadata, and
// `changed.overwritten`, the cells it set that someone had changed since `version`.
export async function setCells(documentId, version, cells, editKey) {
  const headers = { "Content-Type": "application/json" };
  if (editKey) headers.Authorization = `Bearer ${editKey}`;
  const params = new URLSearchParams({ version: String(version) });
  const body = JSON.stringify(cells);
  return json(await fetch(`${documentPath(documentId)}/cells?${params}`, { method: "PATCH", headers, body }));
}

// Rows added after the current version's (`rows`: each a list of its cells, as text), as a new
// version; only an edit key may. Sent as JSON Lines, so that a cell is kept exactly as typed
// (as TSV or CSV, its delimiters and quotes would be read). The answer: its metadata, whose
// `total_number` is the last row's number.
export async function addRows(documentId, rows, editKey) {
  const headers = { "Content-Type": "application/x-ndjson" };
  if (editKey) headers.Authorization = `Bearer ${editKey}`;
  const body = rows.map((cells) => `${JSON.stringify(cells)}\n`).join("");
  return json(await fetch(`${documentPath(documentId)}/rows`, { method: "POST", headers, body }));
}

// Rows deleted (`rows`: their numbers as version `version` numbers them, wherever changes since
// moved them), as a new version; only an edit key may. The answer: its metadata, and
// `changed.deleted`, how many were still there to delete.
export async function deleteRows(documentId, version, rows, editKey) {
  const headers = { "Content-Type": "application/json" };
  if (editKey) headers.Authorization = `Bearer ${editKey}`;
  const params = new URLSearchParams({ version: String(version) });
  const body = JSON.stringify(rows);
  return json(await fetch(`${documentPath(documentId)}/rows?${params}`, { method: "DELETE", headers, body }));
}

// Changes the panel lists of each kind at most (the API's limit=): a few screens of rows
export const CHANGES_LISTED = 500;

// What changed from version `from` to `to` (rows added, removed, changed), the first `limit`
// of each kind listed.
export async function fetchChanges(documentId, from, to, limit = CHANGES_LISTED) {
  const params = new URLSearchParams({ from: String(from), to: String(to), limit: String(limit) });
  return json(await fetch(`${documentPath(documentId)}/diff?${params}`));
}

// The profiles of the columns under a view (the rows it shows; its sort is no matter), from
// column `from` on, as many as the server profiles at a time (PROFILED_COLUMNS).
// `signal` aborts it (another view's are wanted now).
export async function fetchProfiles(documentId, version, view, from = 0, signal = undefined) {
  const params = viewQuery({ ...view, sort: null }, version);
  if (from) params.set("from", String(from));
  return json(await fetch(`${documentPath(documentId)}/columns?${params}`, { signal }));
}

export const PROFILED_COLUMNS = 200; // a request's columns at most (web/api.py ColumnsApi)

// A column's values under a view without that column's own facets, most frequent first.
export async function fetchFacetValues(documentId, version, view, column, limit) {
  const params = viewQuery({ ...view, sort: null }, version);
  params.set("limit", String(limit));
  return json(await fetch(`${documentPath(documentId)}/facets/${column}?${params}`));
}
