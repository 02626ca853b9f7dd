// The view bar: search, the header switch, one's own view in words, Clear, the downloads of
// what is shown; the group's view said over the table; and a slow answer on its way.

import { $ } from "./dom.js";

// bar: model.viewBar
export function renderViewBar(bar) {
  // a page arriving must not undo what is being typed
  if (document.activeElement !== $("search")) $("search").value = bar.search;
  $("header-toggle").checked = bar.header;
  $("view-note").textContent = bar.note;
  $("clear-view").hidden = bar.clearHidden;
  $("clear-view").textContent = bar.clearText;
  $("group-view").hidden = bar.group === null;
  if (bar.group !== null) $("group-view-text").textContent = bar.group;
  for (const [format, href] of Object.entries(bar.downloads)) $(`download-${format}`).href = href;
}

// busy: model.busy. The table is dimmed while its answer is slow to come.
export function renderBusy({ shown, text }) {
  $("busy").hidden = !shown;
  $("busy-text").textContent = text;
  $("table-wrap").classList.toggle("busy", shown);
  $("table-wrap").setAttribute("aria-busy", String(shown));
}

// The controls needing the connection, disabled while it is lost.
const NEED_CONNECTION = ["file", "search", "header-toggle", "clear-view", "follow", "group-alone"];

export function disableViewControls(disabled) {
  for (const id of NEED_CONNECTION) $(id).disabled = disabled;
}
