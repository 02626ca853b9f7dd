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

// list: model.versionItems
export function renderVersionList({ items, older }) {
  const elements = items.map((item) => {
    const li = document.createElement("li");
    li.dataset.version = item.version;
    const title = document.createElement("strong");
    title.textContent = item.title;
    const detail = document.createElement("span");
    detail.className = "muted";
    detail.textContent = item.detail;
    li.append(title, detail);
    if (item.current) li.append(Object.assign(document.createElement("span"), { className: "badge", textContent: "current" }));
    const actions = document.createElement("span");
    actions.className = "version-actions";
    const get = Object.assign(document.createElement("a"), { className: "button", textContent: "Download", href: item.download });
    actions.append(button("Open", "open", item.version), get);
    if (item.changes) actions.append(button("Changes", "changes", item.version));
    if (item.restore) actions.append(button("Restore", "restore", item.version));
    li.append(actions);
    return li;
  });
  $("versions-list").replaceChildren(...elements);
  $("versions-older").hidden = !older;
}
