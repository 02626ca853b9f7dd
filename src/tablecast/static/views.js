// Views: how rows are sorted, searched and filtered, and whether the first row is the header,
// as the server's `view` object says. Pure: no page, no network.

export const PLAIN = { sort: null, order: "asc", q: "", filters: {}, header: null };

// The view as a `view` message sends it.
export function viewFields({ sort, order, q, filters, header }) {
  return { sort, order, q, filters, header };
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
