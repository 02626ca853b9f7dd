// The table: a page rendered into a <table>. Cells are set with textContent only: a cell is
// never HTML.
//
// Column headers are sort buttons (click: ascending, again: descending, again: file order);
// the row under them filters each column. Their clicks and typing are bound once, on the
// table, in bindings.js. Numbers are right-aligned by the column types the server infers.

import { arrow, numericColumns, sortOf } from "./model.js";

function cell(tag, text, className) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

export function renderTable(table, page, types) {
  const { columns, data, first_row: firstRow, view } = page;
  const numeric = numericColumns(page, types);

  const head = document.createElement("tr");
  const corner = cell("th", "#", "rownum");
  corner.scope = "col";
  head.append(corner);
  columns.forEach((name, i) => head.append(headerCell(name, i, numeric[i], types, view)));

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
  if (filters && filters.dataset.columns === JSON.stringify(columns)) {
    // the same columns: keep the filter row (and the field being typed in) as it is
    table.tHead.rows[0].replaceWith(head);
    updateFilters(filters, view);
  } else {
    table.tHead.replaceChildren(head, filterRow(columns, view));
  }
  table.tBodies[0].replaceChildren(body);
  markClipped(table);
}

// The sort arrows as a view has them: a sort asked for shows at once, before its rows come.
export function markSort(table, view) {
  const head = table.tHead.rows[0];
  if (!head) return;
  for (const button of head.querySelectorAll("button.sort")) {
    const sorted = sortOf(view, Number(button.dataset.column));
    button.querySelector(".arrow").textContent = arrow(sorted);
    markSorted(button.parentElement, sorted);
  }
}

// The table's own controls, disabled while the connection is lost.
export function disableTableControls(table, disabled) {
  for (const control of table.tHead.querySelectorAll("button, input")) control.disabled = disabled;
}

function markSorted(th, sorted) {
  if (sorted) th.setAttribute("aria-sort", sorted === "asc" ? "ascending" : "descending");
  else th.removeAttribute("aria-sort");
}

function headerCell(name, i, numeric, types, view) {
  const th = document.createElement("th");
  th.scope = "col";
  th.className = numeric ? "num" : "";
  const sorted = sortOf(view, i);
  markSorted(th, sorted);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "sort";
  button.dataset.column = String(i);
  button.setAttribute("aria-label", `Sort by ${name}`);
  button.title = `Sort by ${name}${types ? ` (${types[i]})` : ""}`;
  button.append(cell("span", name, "name"));
  button.append(cell("span", arrow(sorted), "arrow"));
  th.append(button);
  return th;
}

function filterRow(columns, view) {
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
