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
const NEED_CONNECTION = ["file", "search", "header-toggle", "clear-view", "follow", "group-alone", "facets-clear"];

export function disableViewControls(disabled) {
  for (const id of NEED_CONNECTION) $(id).disabled = disabled;
}

// chips: model.facetChips (null: no facets). Each chip's × removes its value.
export function renderFacetChips(chips) {
  $("facets").hidden = chips === null;
  if (chips === null) {
    $("facet-chips").replaceChildren();
    return;
  }
  const focused = document.activeElement;
  const refocus = $("facet-chips").contains(focused) ? focused.getAttribute("aria-label") : null;
  $("facet-chips").replaceChildren(
    ...chips.chips.map((chip) => {
      const li = document.createElement("li");
      li.className = "chip";
      const text = document.createElement("span");
      text.textContent = chip.text;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "chip-remove";
      remove.textContent = "×";
      remove.dataset.column = String(chip.column);
      remove.dataset.value = chip.value;
      remove.setAttribute("aria-label", chip.label);
      li.append(text, remove);
      return li;
    }),
  );
  $("facets-by").textContent = chips.by;
  $("facets-clear").textContent = chips.clearText;
  if (refocus) {
    // the chip removed is gone: the focus stays in the chips, not lost to the page
    const again = [...$("facet-chips").querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === refocus);
    (again || $("facets-clear")).focus();
  }
}
