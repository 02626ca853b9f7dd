// What changed: the changes panel (rows added, removed and changed between two versions, the
// changed cells old and new, stepped through one change at a time) and the notice of a
// document that changed since this browser last showed it.

import { fetchChanges } from "./api.js";
import { $ } from "./dom.js";
import * as model from "./model.js";
import { explain, sayAlert } from "./render.js";

const SEEN = "tablecast:seen:"; // + document id: the version this browser last showed
const seenHere = new Map(); // when storage is unavailable (some private windows)
let shown = null; // the changes in the panel: { documentId, diff, rows, current }
let asked = null; // the changes last asked for: only its answer is shown
let looked = null; // the document whose first page was checked against what was seen
let since = null; // what the notice of changes since one last looked shows, asked

function seenVersion(documentId) {
  try {
    return Number(localStorage.getItem(SEEN + documentId)) || seenHere.get(documentId) || null;
  } catch {
    return seenHere.get(documentId) || null;
  }
}

function see(documentId, version) {
  seenHere.set(documentId, version);
  try {
    localStorage.setItem(SEEN + documentId, String(version));
  } catch {
    // kept for this page only
  }
}

// A live page shown: the first of a visit says what changed since the last (once its version
// is newer than the one this browser showed then); every one is the version seen now.
export async function lookedAt(documentId, version, columns) {
  if (!documentId || version === null || version === undefined) return;
  const before = seenVersion(documentId);
  see(documentId, Math.max(version, before || 0));
  if (looked === documentId) return;
  looked = documentId;
  if (!before || before >= version) return;
  let diff;
  try {
    diff = await fetchChanges(documentId, before, version, 1);
  } catch {
    return; // (a version gone with its document, the server away: nothing to say)
  }
  const text = model.sinceLastLooked(before, diff);
  if (!text) return;
  since = { documentId, from: before, to: version, columns };
  $("since-text").textContent = text;
  $("since").hidden = false;
}

// The notice's "Show the changes".
export function showSince() {
  $("since").hidden = true;
  if (since) showChanges(since.documentId, since.from, since.to, since.columns);
}

export function dismissSince() {
  $("since").hidden = true;
}

// The panel of what changed from version `from` to `to`; `columns`: the names heading it.
export async function showChanges(documentId, from, to, columns) {
  $("changes-title").textContent = `Comparing version ${from} with version ${to}…`;
  $("changes-note").textContent = "";
  $("changes-table").tBodies[0].replaceChildren();
  $("changes").hidden = false;
  const asking = { from, to };
  asked = asking;
  let diff;
  try {
    diff = await fetchChanges(documentId, from, to);
  } catch (error) {
    if (asked !== asking) return;
    $("changes").hidden = true;
    sayAlert(explain(error.code, error.message));
    return;
  }
  if (asked !== asking) return; // other changes asked for meanwhile
  const names = diff.columns || columns || [];
  shown = { documentId, diff, rows: model.changeRows(diff, names.length), current: -1 };
  $("changes-title").textContent = model.changesTitle(diff);
  $("changes-note").textContent = model.changesNote(diff);
  renderRows(names, shown.rows);
  step(1);
}

export function closeChanges() {
  $("changes").hidden = true;
  shown = asked = null;
}

// The next (1) or previous (-1) change, marked and scrolled into sight.
export function step(by) {
  if (!shown || !shown.rows.length) {
    $("changes-previous").disabled = $("changes-next").disabled = true;
    $("changes-position").textContent = "";
    return;
  }
  const last = shown.rows.length - 1;
  shown.current = Math.min(last, Math.max(0, shown.current + by));
  const rows = $("changes-table").tBodies[0].rows;
  for (const [i, row] of Array.from(rows).entries()) row.classList.toggle("current", i === shown.current);
  rows[shown.current].scrollIntoView({ block: "nearest" });
  $("changes-previous").disabled = shown.current === 0;
  $("changes-next").disabled = shown.current === last;
  $("changes-position").textContent = `${shown.current + 1} of ${shown.rows.length}`;
}

function renderRows(names, rows) {
  const width = Math.max(names.length, ...rows.map((row) => row.cells.length));
  const head = document.createElement("tr");
  head.append(Object.assign(document.createElement("th"), { textContent: "Change" }));
  for (let column = 0; column < width; column += 1) {
    head.append(Object.assign(document.createElement("th"), { textContent: names[column] ?? `Column ${column + 1}` }));
  }
  $("changes-table").tHead.replaceChildren(head);
  $("changes-table").tBodies[0].replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      tr.className = row.kind;
      tr.append(Object.assign(document.createElement("th"), { scope: "row", textContent: row.label }));
      for (const cell of row.cells) {
        const td = document.createElement("td");
        if (cell.changed) {
          td.className = "changed-cell";
          td.append(
            Object.assign(document.createElement("del"), { textContent: cell.old }),
            Object.assign(document.createElement("ins"), { textContent: cell.text }),
          );
        } else {
          td.textContent = cell.text;
        }
        tr.append(td);
      }
      return tr;
    }),
  );
}
