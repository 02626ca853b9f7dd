// Rows added and deleted, for editors: the bar over the table (Add row, the rows selected,
// Delete), the New row form (a field per column, what it says under them), and the marks of
// the rows selected. Their clicks and keys are listened to in bindings.js; what they do is
// app.js's.

import { $ } from "./dom.js";
import { carriedCells } from "./model.js";

// bar: model.rowsBar
export function renderRowsBar(bar) {
  $("rows-bar").hidden = bar.hidden;
  $("add-row").setAttribute("aria-expanded", String(bar.addOpen));
  $("add-row").disabled = bar.addDisabled;
  $("selection-text").textContent = bar.selected;
  $("delete-rows").hidden = bar.deleteHidden;
  $("delete-rows").textContent = bar.deleteText;
  $("delete-rows").disabled = bar.deleteDisabled;
  $("clear-selection").hidden = bar.clearHidden;
}

// form: model.newRowForm. Its fields are made again only when the columns change, carrying
// what is typed in them: a page arriving never undoes it.
export function renderNewRow(form) {
  $("new-row").hidden = !form.shown;
  if (form.shown) renderFields(form.columns);
  $("new-row-add").disabled = form.addDisabled;
  $("new-row-add").textContent = form.addText;
  $("new-row-said").textContent = form.said;
  $("new-row-go").hidden = form.go === null;
  if (form.go) {
    $("new-row-go").textContent = form.go.text;
    $("new-row-go").dataset.row = String(form.go.row);
  }
}

function renderFields(columns) {
  const cells = $("new-row-cells");
  const was = cells.dataset.columns;
  if (was === JSON.stringify(columns)) return;
  const values = was ? carriedCells(JSON.parse(was), newRowCells(), columns) : columns.map(() => "");
  const focused = cells.contains(document.activeElement) ? Number(document.activeElement.dataset.column) : null;
  cells.replaceChildren(
    ...columns.map((name, i) => {
      const label = document.createElement("label");
      label.className = "new-row-cell";
      const text = document.createElement("span");
      text.textContent = name;
      text.title = name;
      const input = document.createElement("input");
      input.type = "text";
      input.autocomplete = "off";
      input.spellcheck = false;
      input.dataset.column = String(i);
      input.value = values[i];
      label.append(text, input);
      return label;
    }),
  );
  cells.dataset.columns = JSON.stringify(columns);
  const again = focused === null ? null : fieldAt(Math.min(focused, columns.length - 1));
  if (again) again.focus();
}

function fieldAt(column) {
  return $("new-row-cells").querySelector(`input[data-column="${column}"]`);
}

// The cells typed, one per column.
export function newRowCells() {
  return [...$("new-row-cells").querySelectorAll("input")].map((input) => input.value);
}

// Emptied for the next row: the fields still holding what was sent (`sent`); one typed in
// while it was on its way keeps its text.
export function clearNewRow(sent) {
  for (const input of $("new-row-cells").querySelectorAll("input")) {
    if (input.value === sent[Number(input.dataset.column)]) input.value = "";
  }
}

// The focus in the first field.
export function focusNewRow() {
  const first = fieldAt(0);
  if (first) first.focus();
}

export function newRowFocused() {
  return $("new-row").contains(document.activeElement);
}

export function focusAddRow() {
  $("add-row").focus();
}

// selected: model.selectedRows. A row selected is marked, and its number's button pressed;
// rows whose delete is on their way are struck out.
export function markSelected(table, { rows, deleting }) {
  const selected = new Set(rows);
  for (const tr of table.tBodies[0].rows) {
    const on = selected.has(Number(tr.dataset.row));
    tr.classList.toggle("selected", on);
    tr.classList.toggle("deleting", on && deleting);
    const button = tr.querySelector("button.row-select");
    if (button) button.setAttribute("aria-pressed", String(on));
  }
}

// The focus on a row's number, in sight (a row gone to).
export function focusRow(table, row) {
  const button = table.tBodies[0].querySelector(`tr[data-row="${row}"] button.row-select`);
  if (!button) return;
  button.focus({ preventScroll: true });
  button.closest("tr").scrollIntoView({ block: "center", inline: "nearest" });
}
