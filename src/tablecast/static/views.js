// Views: how rows are sorted, searched, filtered and faceted, which type a column is read as,
// and whether the first row is the header, as the server's `view` object says. Pure: no page,
// no network. A view from an older server may lack `facets` and `types`: read as none.

export const PLAIN = { sort: null, order: "asc", q: "", filters: {}, facets: {}, types: {}, header: null };

// The six types a column can be read as (docs/protocol.md, "Types").
export const TYPES = ["text", "integer", "decimal", "date", "datetime", "boolean"];

// The view as a `view` message sends it.
export function viewFields({ sort, order, q, filters, facets = {}, types = {}, header }) {
  return { sort, order, q, filters, facets, types, header };
}

export function isPlain(view) {
  return !view || (view.sort === null && !isSearch(view) && Object.keys(view.types || {}).length === 0);
}

// Whether the view keeps only some rows: only then are they "matching".
export function isSearch(view) {
  return Boolean(
    view && (view.q || Object.keys(view.filters).length > 0 || Object.keys(view.facets || {}).length > 0),
  );
}

// Whether a view shows the table as uploaded: every row, in file order, with the header the
// upload had (`asUploaded`: whether it had one; undefined when not known yet).
export function isWholeTable(view, asUploaded) {
  return isPlain(view) && (view.header === null || view.header === asUploaded);
}

// A view's facets in one order ([column, [values sorted]] by column), empty ones dropped: the
// server keeps them so, and two views with the same facets compare equal.
export function facetList(view) {
  return Object.entries((view && view.facets) || {})
    .filter(([, values]) => values.length > 0)
    .map(([column, values]) => [Number(column), [...values].sort()])
    .sort((x, y) => x[0] - y[0]);
}

function typeList(view) {
  return Object.entries((view && view.types) || {})
    .map(([column, type]) => [Number(column), type])
    .sort((x, y) => x[0] - y[0]);
}

function filterList(view) {
  return Object.entries(view.filters || {})
    .filter(([, text]) => text)
    .map(([column, text]) => [Number(column), text])
    .sort((x, y) => x[0] - y[0]);
}

// The same rows asked for: what the server answers for a view sent (empty filters dropped).
export function sameView(a, b) {
  return (
    a.sort === b.sort &&
    (a.sort === null || a.order === b.order) &&
    sameRows(a, b) &&
    JSON.stringify(typeList(a)) === JSON.stringify(typeList(b))
  );
}

// The same rows, whatever their order: what a column profile describes (types change the
// profile too, so they count). Sorting and the page do not.
export function sameRows(a, b) {
  return rowsKey(a) === rowsKey(b);
}

// What picks a view's rows and reads its columns, as one string: profiles are asked for again
// when, and only when, it changes.
export function rowsKey(view) {
  const v = view || PLAIN;
  return JSON.stringify([v.q || "", filterList(v), facetList(v), typeList(v), v.header ?? null]);
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

// A facet value picked, or unpicked when it was picked already.
export function withFacet(view, column, value) {
  const facets = { ...(view.facets || {}) };
  const key = String(column);
  const values = facets[key] || [];
  const next = values.includes(value) ? values.filter((v) => v !== value) : [...values, value].sort();
  if (next.length) facets[key] = next;
  else delete facets[key];
  return { facets };
}

// Every facet gone (the chips' "Clear all").
export function withoutFacets() {
  return { facets: {} };
}

// A column read as `type`; null (or the type it is inferred as) drops the override.
export function withType(view, column, type, inferred = null) {
  const types = { ...(view.types || {}) };
  if (type && type !== inferred) types[String(column)] = type;
  else delete types[String(column)];
  return { types };
}

// "sorted by amount ▼ · matching “ada” · city: “lima” · city is “paris” or “oslo” · amount
// read as integer" ("" for the whole table as uploaded)
export function describeView(view, columns, asUploaded) {
  if (!view || isWholeTable(view, asUploaded)) return "";
  const name = (column) => columns[column] ?? column;
  const parts = [];
  if (view.sort !== null) parts.push(`sorted by ${name(view.sort)} ${view.order === "desc" ? "▼" : "▲"}`);
  if (view.q) parts.push(`matching “${view.q}”`);
  for (const [column, text] of Object.entries(view.filters)) parts.push(`${name(column)}: “${text}”`);
  for (const [column, values] of facetList(view)) {
    parts.push(`${name(column)} is ${values.map((value) => `“${value}”`).join(" or ")}`);
  }
  for (const [column, type] of typeList(view)) parts.push(`${name(column)} read as ${type}`);
  if (view.header !== null && view.header !== asUploaded) {
    parts.push(view.header ? "first row as the header" : "no header row");
  }
  return parts.join(" · ");
}
