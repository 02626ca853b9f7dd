// The line above the table: which rows are shown, rows that do not fit, following the group
// or browsing alone, and the page bar.

import { $ } from "./dom.js";

export function renderRange(range, ragged) {
  $("range").textContent = range;
  $("ragged").hidden = ragged.hidden;
  $("ragged").textContent = ragged.text;
}

// pager: model.pager. What leads anywhere (again whenever the connection changes).
export function renderPager({ backDisabled, onDisabled, fieldDisabled }) {
  $("first").disabled = $("prev").disabled = backDisabled;
  $("next").disabled = $("last").disabled = onDisabled;
  $("page").disabled = fieldDisabled;
}

// The page field and the count of pages: only when a page comes, never under one's typing.
export function renderPageNumber({ pageNo, pageCount, pages }) {
  $("page").value = pageNo;
  $("page").max = pageCount;
  $("pages").textContent = pages;
}

// follow: model.follow
export function renderFollow({ checked, alone }) {
  $("follow").checked = checked;
  $("alone").hidden = !alone;
}
