// The versions panel: each version with Open (read-only), Download, Changes (from the version
// before it) and, for editors, Restore; "Show older versions" while there are more. Its
// buttons say which version by data attributes; their clicks are bound once, on the list, in
// bindings.js.

import { $ } from "./dom.js";

export function isPanelOpen() {
  return !$("versions").hidden;
}

export function togglePanel() {
  const panel = $("versions");
  panel.hidden = !panel.hidden;
  $("versions-button").setAttribute("aria-expanded", String(!panel.hidden));
  return !panel.hidden;
}

function button(text, action, version) {
  const element = Object.assign(document.createElement("button"), { type: "button", className: "button", textContent: text });
  element.dataset.action = action;
  element.dataset.version = version;
  return element;
}

// What an entry says: its title, and its detail in grey.
function heading({ title, detail }) {
  const strong = Object.assign(document.createElement("strong"), { textContent: title });
  return [strong, Object.assign(document.createElement("span"), { className: "muted", textContent: detail })];
}

// One version: its number, when and what, and what can be done with it.
function versionItem(item) {
  const li = document.createElement("li");
  li.dataset.version = item.version;
  li.append(...heading(item));
  if (item.current) li.append(Object.assign(document.createElement("span"), { className: "badge", textContent: "current" }));
  const actions = document.createElement("span");
  actions.className = "version-actions";
  const get = Object.assign(document.createElement("a"), { className: "button", textContent: "Download", href: item.download });
  actions.append(button("Open", "open", item.version), get);
  if (item.changes) actions.append(button("Changes", "changes", item.version));
  if (item.restore) actions.append(button("Restore", "restore", item.version));
  li.append(actions);
  return li;
}

// A burst of versions (model.bursts): one entry, opened on them.
function burstItem(group) {
  const li = document.createElement("li");
  li.className = "burst";
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.append(...heading(group));
  const list = document.createElement("ul");
  list.className = "versions-list";
  list.append(...group.items.map(versionItem));
  details.append(summary, list);
  li.append(details);
  return li;
}

// list: model.versionItems. Bursts open before stay open when the list is drawn again.
export function renderVersionList({ items, older }) {
  const open = new Set(
    [...$("versions-list").querySelectorAll("li.burst details[open] > ul > li")].map((li) => li.dataset.version),
  );
  const elements = items.map((item) => {
    if (!item.group) return versionItem(item);
    const li = burstItem(item);
    if (item.items.some((one) => open.has(String(one.version)))) li.querySelector("details").open = true;
    return li;
  });
  $("versions-list").replaceChildren(...elements);
  $("versions-older").hidden = !older;
}
