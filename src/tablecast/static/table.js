// The table: a page rendered into a <table>. Cells are set with textContent only: a cell is
// never HTML.
//
// Column headers are sort buttons (click: ascending, again: descending, again: file order),
// each with a menu button and, under its name, a strip of the column's profile; the row under
// them filters each column. Their clicks and typing are bound once, on the table, in
// bindings.js. Numbers are right-aligned by the column types the server infers. While the
// columns stay the same, the header stays too (only its marks change): a page turn draws rows.
//
// Each row says its number (`data-row`, as the API names rows) and each cell its column
// (`data-column`): an editor's cells take focus (a click, or the cell editor giving it back),
// and are found again by number when a page is drawn anew. An editor's row numbers are
// buttons that select their rows (rows.js marks them).

import { count } from "./format.js";
import { arrow, numericColumns, sortOf } from "./model.js";

const SVG = "http://www.w3.org/2000/svg";

function cell(tag, text, className) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

// Returns whether the header was drawn afresh (new columns: their strips are to be drawn).
// `editable`: this viewer may edit the cells (they take focus, for Enter or F2).
export function renderTable(table, page, types, editable = false) {
  const { columns, data, first_row: firstRow, view } = page;
  const numeric = numericColumns(page, types);

  const body = document.createDocumentFragment();
  data.forEach((row, r) => {
    const tr = document.createElement("tr");
    const rowNumber = page.rows ? page.rows[r] : firstRow + r;
    tr.dataset.row = String(rowNumber);
    const number = editable ? rowSelect(rowNumber, r === 0) : cell("th", String(rowNumber), "rownum");
    number.scope = "row";
    tr.append(number);
    const width = Math.max(columns.length, row.length); // a ragged row's cells past the header too
    for (let i = 0; i < width; i += 1) {
      const td = cell("td", row[i] ?? "", numeric[i] ? "num" : "");
      td.dataset.column = String(i);
      if (editable) td.tabIndex = -1; // focused by a click, not in the Tab order: 100 rows of stops
      tr.append(td);
    }
    body.append(tr);
  });
  table.classList.toggle("editable", editable);

  const filters = table.tHead.rows[1];
  const same = Boolean(filters && filters.dataset.columns === JSON.stringify(columns));
  if (same) {
    // the same columns: keep the header (and the filter field being typed in) as it is
    updateHead(table.tHead.rows[0], numeric, types, view);
    updateFilters(filters, view);
  } else {
    const head = document.createElement("tr");
    const corner = cell("th", "#", "rownum");
    corner.scope = "col";
    head.append(corner);
    columns.forEach((name, i) => head.append(headerCell(name, i)));
    table.tHead.replaceChildren(head, filterRow(columns, view));
    updateHead(head, numeric, types, view);
    // the filter row sticks under the header, however tall its names and strips make it (a
    // table drawn while hidden measures nothing: app.css's guess stands)
    if (head.offsetHeight) table.style.setProperty("--head-height", `${head.offsetHeight}px`);
  }
  const focused = focusedRow(table);
  table.tBodies[0].replaceChildren(body);
  if (focused) refocusRow(table, focused);
  markClipped(table);
  return !same;
}

// An editor's row number: a button that selects the row. Only the first row's is a Tab stop
// (the arrow keys go on from it, bindings.js): 100 rows are not 100 stops.
function rowSelect(rowNumber, first) {
  const th = document.createElement("th");
  th.className = "rownum";
  const button = cell("button", String(rowNumber), "row-select");
  button.type = "button";
  button.dataset.row = String(rowNumber);
  button.setAttribute("aria-pressed", "false");
  button.setAttribute("aria-label", `Select row ${count(rowNumber)}`);
  button.title = "Select this row (Shift+click: the rows from the last one clicked)";
  if (!first) button.tabIndex = -1;
  th.append(button);
  return th;
}

// The row number that has the focus (a keyboard's place among the rows): its row and where it
// is on the page; null when the focus is elsewhere.
function focusedRow(table) {
  const button = document.activeElement;
  if (!button || !button.matches("button.row-select") || !table.tBodies[0].contains(button)) return null;
  const tr = button.closest("tr");
  return { row: tr.dataset.row, at: tr.sectionRowIndex };
}

// The focus kept on the rows drawn anew: on the same row, else (deleted, or another page) the
// row now in its place, so that the keyboard does not lose its place in the table.
function refocusRow(table, { row, at }) {
  const rows = table.tBodies[0].rows;
  const tr = table.tBodies[0].querySelector(`tr[data-row="${row}"]`) || rows[Math.min(at, rows.length - 1)];
  const button = tr ? tr.querySelector("button.row-select") : null;
  if (button) button.focus({ preventScroll: true });
}

// strips: model.strips, one per column (null: none known); `stale` while the rows shown have
// changed and their profiles are on their way.
export function renderStrips(table, strips, stale) {
  const head = table.tHead.rows[0];
  if (!head) return;
  head.classList.toggle("stale-strips", stale);
  const paths = head.querySelectorAll("svg.strip path");
  paths.forEach((path, i) => {
    const strip = strips[i] || null;
    const d = strip ? strip.path : "";
    if (path.getAttribute("d") !== d) path.setAttribute("d", d);
    const svg = path.parentNode;
    svg.dataset.kind = strip ? strip.kind : "";
    svg.querySelector("title").textContent = strip ? strip.title : "";
  });
}

// A data cell by its row number and column; null when the page does not show it.
export function cellAt(table, row, column) {
  return table.tBodies[0].querySelector(`tr[data-row="${row}"] > td[data-column="${column}"]`);
}

// A cell's text again (its save answered or refused): the page's, or one's own value while it
// is saved, marked. The cell being edited keeps its editor.
export function showCell(table, { row, column }, text, saving) {
  const td = cellAt(table, row, column);
  if (!td || td.classList.contains("editing")) return;
  td.textContent = text;
  td.classList.toggle("saving", saving);
}

// marks: model.cellMarks. One's own values on their way show in place of the page's, marked;
// the cells a new version changed are marked, their fade going on from `age` ms in.
export function markCells(table, { saving, changed }) {
  for (const { row, column, value } of saving) showCell(table, { row, column }, value, true);
  markChanged(table, changed);
}

// Only the cells listed stay marked as just changed (the others' few seconds are over).
export function markChanged(table, changed) {
  const marked = new Set();
  for (const { row, column, age } of changed) {
    const td = cellAt(table, row, column);
    if (!td) continue;
    marked.add(td);
    td.style.animationDelay = `${-Math.round(age)}ms`;
    td.classList.add("just-changed");
  }
  for (const td of table.tBodies[0].querySelectorAll("td.just-changed")) {
    if (!marked.has(td)) {
      td.classList.remove("just-changed");
      td.style.removeProperty("animation-delay");
    }
  }
}

// The column menu button of a column (the menu opens under it; focus returns to it).
export function menuButton(table, column) {
  return table.tHead.querySelector(`button.colmenu[data-column="${column}"]`);
}

// The sort arrows as a view has them: a sort asked for shows at once, before its rows come.
export function markSort(table, view) {
  const head = table.tHead.rows[0];
  if (!head) return;
  for (const button of head.querySelectorAll("button.sort")) {
    const sorted = sortOf(view, Number(button.dataset.column));
    button.querySelector(".arrow").textContent = arrow(sorted);
    markSorted(button.closest("th"), sorted);
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

function headerCell(name, i) {
  const th = document.createElement("th");
  th.scope = "col";
  const line = document.createElement("div");
  line.className = "colhead";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "sort";
  button.dataset.column = String(i);
  button.setAttribute("aria-label", `Sort by ${name}`);
  button.append(cell("span", name, "name"));
  button.append(cell("span", "", "arrow"));
  const menu = cell("button", "", "colmenu"); // its ⋮ is drawn by app.css: not the column's name
  menu.type = "button";
  menu.dataset.column = String(i);
  menu.setAttribute("aria-label", `Column menu: ${name}`);
  menu.setAttribute("aria-haspopup", "dialog");
  menu.setAttribute("aria-expanded", "false");
  menu.setAttribute("aria-controls", "column-menu");
  menu.title = `Profile, values and type of ${name}`;
  line.append(button, menu);
  // drawn when the profiles come (renderStrips); there from the start so the header keeps its
  // height
  const strip = document.createElementNS(SVG, "svg");
  strip.setAttribute("class", "strip");
  strip.setAttribute("viewBox", "0 0 100 16");
  strip.setAttribute("preserveAspectRatio", "none");
  // its title shows on hover; to a screen reader the column menu says it all, and the
  // header each cell is announced with stays its name
  strip.setAttribute("aria-hidden", "true");
  strip.append(document.createElementNS(SVG, "title"), document.createElementNS(SVG, "path"));
  th.append(line, strip);
  return th;
}

// Alignment, sort arrows and titles as this page has them: written only where they changed.
function updateHead(head, numeric, types, view) {
  const cells = head.cells;
  for (let i = 1; i < cells.length; i += 1) {
    const th = cells[i];
    const column = i - 1;
    const className = numeric[column] ? "num" : "";
    if (th.className !== className) th.className = className;
    const button = th.querySelector("button.sort");
    const name = button.querySelector(".name").textContent;
    const title = `Sort by ${name}${types ? ` (${types[column]})` : ""}`;
    if (button.title !== title) button.title = title;
    const sorted = sortOf(view, column);
    const mark = arrow(sorted);
    const shown = button.querySelector(".arrow");
    if (shown.textContent !== mark) shown.textContent = mark;
    markSorted(th, sorted);
  }
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
