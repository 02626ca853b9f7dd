// The cell editor: one text field, put in the cell being edited (in place of its text) and
// moved from cell to cell. Pages redraw the table's rows whenever they come: the field is
// taken out of its cell before (holdEditor) and put back in the cell of the same row number
// and column after (placeEditor), with what was typed, the caret and the focus, so that a
// page arriving never undoes what is being typed. Its keys and its blur are listened to in
// bindings.js; what they do is app.js's.

import { cellAt } from "./table.js";

let field = null; // the editor's <input>, made once
let quiet = false; // the field is being moved: losing the focus then is not leaving the cell
let held = null; // { focused, start, end, direction }: how to put it back

function make() {
  const input = document.createElement("input");
  input.type = "text";
  input.className = "cell-editor";
  input.autocomplete = "off";
  input.spellcheck = false;
  return input;
}

// Moves the field without its blur counting as leaving the cell (Chromium may send a blur
// for a focused element taken out of the page).
function quietly(move) {
  quiet = true;
  try {
    move();
  } finally {
    quiet = false;
  }
}

// Whether the field is being moved (a blur then is not the viewer leaving the cell).
export function isMoving() {
  return quiet;
}

// The editor opened on a cell with `text`, selected, the focus in it. `label`: what a screen
// reader says of it ("Edit row 3, city").
export function openEditor(table, { row, column }, text, label) {
  const td = cellAt(table, row, column);
  if (!td) return false;
  field = field || make();
  field.value = text;
  field.setAttribute("aria-label", label);
  held = { focused: true, start: 0, end: text.length, direction: "forward" };
  placeEditor(table, { row, column });
  field.scrollIntoView({ block: "nearest", inline: "nearest" }); // Tab along a wide table
  return true;
}

// The field taken out of the rows about to be drawn anew, with how to put it back.
export function holdEditor() {
  if (!field || !field.isConnected) return;
  const focused = document.activeElement === field;
  held = { focused, start: field.selectionStart, end: field.selectionEnd, direction: field.selectionDirection };
  quietly(() => {
    const td = field.parentNode;
    td.classList.remove("editing");
    field.remove();
  });
}

// The field put in its cell (again): false when the page does not show that cell.
export function placeEditor(table, { row, column }) {
  if (!field) return false;
  const td = cellAt(table, row, column);
  if (!td) return false;
  if (field.parentNode === td) return true;
  quietly(() => {
    td.replaceChildren(field);
    td.classList.add("editing");
    if (held && held.focused) {
      field.focus({ preventScroll: true });
      field.setSelectionRange(held.start, held.end, held.direction);
    }
  });
  held = null;
  return true;
}

// Whether the editor is in a cell of the table shown.
export function editorShown() {
  return Boolean(field && field.isConnected);
}

export function editorFocused() {
  return Boolean(field) && document.activeElement === field;
}

// What is typed in it (kept while it is held out of the page).
export function editorText() {
  return field ? field.value : "";
}

// Closed: its cell shows `text` (marked while one's value in it is saved), if it is shown.
export function closeEditor(text, saving) {
  held = null;
  if (!field || !field.isConnected) return;
  quietly(() => {
    const td = field.parentNode;
    field.remove();
    td.classList.remove("editing");
    td.textContent = text;
    td.classList.toggle("saving", saving);
  });
}

// The cell next to one, on the page as shown: "down", "up" (same column, the next or previous
// row shown), "right", "left" (on along the row, on to the next row's first cell, or back to
// the previous row's last); null at the page's end.
export function nextCell(table, { row, column }, direction) {
  const td = cellAt(table, row, column);
  if (!td) return null;
  const tr = td.parentNode;
  let next = null;
  if (direction === "down" || direction === "up") {
    const other = direction === "down" ? tr.nextElementSibling : tr.previousElementSibling;
    next = other ? other.querySelector(`td[data-column="${column}"]`) : null;
  } else if (direction === "right") {
    next = td.nextElementSibling || (tr.nextElementSibling && tr.nextElementSibling.querySelector("td"));
  } else if (direction === "left") {
    const before = td.previousElementSibling; // (the row number's th, at the row's start)
    const above = tr.previousElementSibling;
    next = before && before.matches("td") ? before : above && above.querySelector("td:last-child");
  }
  if (!next) return null;
  return { row: Number(next.parentNode.dataset.row), column: Number(next.dataset.column) };
}

// The focus on a cell (back from its editor), for Enter or F2 to edit it again.
export function focusCell(table, { row, column }) {
  const td = cellAt(table, row, column);
  if (td) td.focus({ preventScroll: true });
}
