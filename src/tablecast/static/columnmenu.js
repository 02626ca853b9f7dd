// The column menu: a popover under a column's menu button with the column's profile, its sort,
// its values to pick as facets (with counts), and the type to read it as. One element in the
// page (templates/index.html), filled from model.columnMenu; its listeners are in bindings.js.

import { $ } from "./dom.js";

const MARGIN = 8; // px kept between the menu and the window's edges

function item(tag, text, className) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

// menu: model.columnMenu; `anchor`: the column's menu button; `opening`: put the menu under it.
export function renderColumnMenu(menu, anchor, opening = false) {
  const popover = $("column-menu");
  const focused = document.activeElement;
  const focusedValue = popover.contains(focused) && focused.matches(".facet-value") ? focused.dataset.value : null;
  popover.dataset.column = String(menu.column);
  $("column-menu-title").textContent = menu.title;
  $("column-sort-asc").setAttribute("aria-pressed", String(menu.sorted === "asc"));
  $("column-sort-desc").setAttribute("aria-pressed", String(menu.sorted === "desc"));

  const rows = document.createDocumentFragment();
  for (const [term, value] of menu.rows) rows.append(item("dt", term), item("dd", value));
  $("column-profile").replaceChildren(rows);
  $("column-profile").hidden = menu.loading;
  $("column-profile-loading").hidden = !menu.loading;
  $("column-top").textContent = menu.top ? `Top: ${menu.top}` : "";
  $("column-top").hidden = !menu.top;

  const values = document.createDocumentFragment();
  for (const value of menu.values) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "facet-value";
    button.dataset.value = value.value;
    button.setAttribute("aria-pressed", String(value.selected));
    button.disabled = value.disabled;
    if (value.disabled) button.title = "Too long to pick: search for it instead";
    button.append(item("span", value.text, "value"), item("span", value.count, "count"));
    const li = document.createElement("li");
    li.append(button);
    values.append(li);
  }
  $("column-values").replaceChildren(values);
  $("column-values-note").textContent = menu.note;
  $("column-values-more").hidden = !menu.more;

  const select = $("column-type");
  select.replaceChildren(
    ...menu.type.options.map((option) => {
      const element = item("option", option.text);
      element.value = option.value;
      return element;
    }),
  );
  select.value = menu.type.value;
  for (const control of popover.querySelectorAll("button:not(#column-menu-close), select")) {
    if (menu.disabled) control.disabled = true;
    else if (!control.matches(".facet-value")) control.disabled = false;
  }

  if (anchor) anchor.setAttribute("aria-expanded", "true");
  const wasHidden = popover.hidden;
  popover.hidden = false;
  if (wasHidden || opening) place(popover, anchor);
  if (focusedValue !== null) {
    // a value picked: the list drawn again keeps the focus on it
    const again = [...popover.querySelectorAll(".facet-value")].find((b) => b.dataset.value === focusedValue);
    if (again) again.focus();
  }
}

// Under its column's header, at its button, kept inside the window (a phone's narrow screen shows it as a sheet at the
// bottom instead: app.css).
function place(popover, anchor) {
  if (!anchor) return;
  const rect = anchor.getBoundingClientRect();
  const under = (anchor.closest("th") || anchor).getBoundingClientRect(); // the strips stay seen
  const width = popover.offsetWidth;
  const left = Math.max(MARGIN, Math.min(rect.right - width, window.innerWidth - width - MARGIN));
  const top = Math.min(under.bottom + 4, window.innerHeight - 200);
  popover.style.left = `${Math.max(MARGIN, left)}px`;
  popover.style.top = `${Math.max(MARGIN, top)}px`;
  popover.style.maxHeight = `${window.innerHeight - Math.max(MARGIN, top) - MARGIN}px`;
}

export function focusColumnMenu() {
  $("column-menu-close").focus();
}

export function hideColumnMenu() {
  $("column-menu").hidden = true;
  for (const button of document.querySelectorAll("button.colmenu[aria-expanded='true']")) {
    button.setAttribute("aria-expanded", "false");
  }
}

export function isColumnMenuOpen() {
  return !$("column-menu").hidden;
}
