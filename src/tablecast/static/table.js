// Renders a page into a <table>. Cells are set with textContent only: a cell is never HTML.
//
// Column headers sort (click: ascending, again: descending, again: file order); the row under
// them filters each column. Numbers are right-aligned by the column types the server infers.

const NUMERIC = new Set(["integer", "decimal"]);
// What the server reads as a number (tablecast.table.columns): no currency, no percent sign
const NUMBER = /^(?=.*\d)[-+]?(\d{1,3}(,\d{3})+|\d{1,3}(\.\d{3})+(?=,)|\d+)?([.,]\d+)?$/;

// Cells that say a value is missing, as the server reads them (tablecast.table.columns): they
// do not make a column of numbers text.
const MISSING = new Set([
  "", "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind", "1.#qnan", "<na>",
  "n/a", "na", "null", "nan", "none", "-",
]);

// Before the server's types arrive: a guess from this page's cells.
function looksNumeric(cells) {
  let seen = false;
  for (const cell of cells) {
    if (cell === undefined || MISSING.has(cell.trim().toLowerCase())) continue;
    if (!NUMBER.test(cell)) return false;
    seen = true;
  }
  return seen;
}

function cell(tag, text, className) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

// actions: { sort(column), filter(column, text) }, or null for a table that cannot be changed
export function renderTable(table, page, types, actions) {
  const { columns, data, first_row: firstRow, view } = page;
  const numeric = columns.map((_, i) =>
    types ? NUMERIC.has(types[i]) : looksNumeric(data.map((row) => row[i])),
  );

  const head = document.createElement("tr");
  const corner = cell("th", "#", "rownum");
  corner.scope = "col";
  head.append(corner);
  columns.forEach((name, i) => head.append(headerCell(name, i, numeric[i], types, view, actions)));

  const body = document.createDocumentFragment();
  data.forEach((row, r) => {
    const tr = document.createElement("tr");
    const number = cell("th", String(page.rows ? page.rows[r] : firstRow + r), "rownum");
    number.scope = "row";
    tr.append(number);
    for (let i = 0; i < columns.length; i += 1) {
      tr.append(cell("td", row[i] ?? "", numeric[i] ? "num" : ""));
    }
    tr.append(...row.slice(columns.length).map((text) => cell("td", text)));
    body.append(tr);
  });

  const filters = table.tHead.rows[1];
  if (actions && filters && filters.dataset.columns === JSON.stringify(columns)) {
    // the same columns: keep the filter row (and the field being typed in) as it is
    table.tHead.rows[0].replaceWith(head);
    updateFilters(filters, view);
  } else {
    table.tHead.replaceChildren(head, ...(actions ? [filterRow(columns, view, actions)] : []));
  }
  table.tBodies[0].replaceChildren(body);
  markClipped(table);
}

// The sort arrows as a view has them: a sort asked for shows at once, before its rows come.
export function markSort(table, view) {
  const head = table.tHead.rows[0];
  if (!head) return;
  for (const button of head.querySelectorAll("button.sort")) {
    const column = Number(button.dataset.column);
    const sorted = view && view.sort === column ? view.order : null;
    button.querySelector(".arrow").textContent = sorted === "asc" ? "▲" : sorted === "desc" ? "▼" : "";
    markSorted(button.parentElement, sorted);
  }
}

function markSorted(th, sorted) {
  if (sorted) th.setAttribute("aria-sort", sorted === "asc" ? "ascending" : "descending");
  else th.removeAttribute("aria-sort");
}

function headerCell(name, i, numeric, types, view, actions) {
  const th = document.createElement("th");
  th.scope = "col";
  th.className = numeric ? "num" : "";
  const sorted = view && view.sort === i ? view.order : null;
  markSorted(th, sorted);
  if (!actions) {
    th.textContent = name;
    return th;
  }
  const button = document.createElement("button");
  button.type = "button";
  button.className = "sort";
  button.dataset.column = String(i);
  button.setAttribute("aria-label", `Sort by ${name}`);
  button.title = `Sort by ${name}${types ? ` (${types[i]})` : ""}`;
  button.append(cell("span", name, "name"));
  button.append(cell("span", sorted === "asc" ? "▲" : sorted === "desc" ? "▼" : "", "arrow"));
  button.addEventListener("click", () => actions.sort(i));
  th.append(button);
  return th;
}

function filterRow(columns, view, actions) {
  const tr = document.createElement("tr");
  tr.className = "filters";
  tr.dataset.columns = JSON.stringify(columns);
  tr.append(cell("th", "", "rownum"));
  columns.forEach((name, i) => {
    const input = document.createElement("input");
    input.type = "search";
    input.className = "filter";
    input.dataset.column = String(i);
    input.placeholder = "Filter";
    input.setAttribute("aria-label", `Filter ${name}`);
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => actions.filter(i, input.value), 300);
    });
    const td = document.createElement("td");
    td.append(input);
    tr.append(td);
  });
  updateFilters(tr, view);
  return tr;
}

// A page arriving must not take the caret away, nor undo what is being typed.
function updateFilters(tr, view) {
  for (const input of tr.querySelectorAll("input")) {
    if (input !== document.activeElement) input.value = (view && view.filters[input.dataset.column]) || "";
  }
}

// Cells too long for their column are cut with an ellipsis; those can be focused (and
// hovered) to read them whole.
function markClipped(table) {
  requestAnimationFrame(() => {
    for (const td of table.tBodies[0].querySelectorAll("td")) {
      if (td.scrollWidth > td.clientWidth + 1) {
        td.classList.add("clipped");
        td.tabIndex = 0;
        td.title = td.textContent;
      }
    }
  });
}
