// Versions: the list of every version, an old one opened read-only (read over HTTP, sorted
// and searched on one's own), and restoring one, which makes it current again for everyone as
// a new version.

import { bytes, count } from "./format.js";
import { PLAIN, api, downloadUrl, fetchPage, json } from "./views.js";

const $ = (id) => document.getElementById(id);

export async function fetchVersions(documentId) {
  return json(await fetch(`${api(documentId)}/versions`));
}

export async function restoreVersion(documentId, version, editKey) {
  const headers = editKey ? { Authorization: `Bearer ${editKey}` } : {};
  return json(await fetch(`${api(documentId)}/versions/${version}/restore`, { method: "POST", headers }));
}


export class Versions {
  // app: { state, renderPage, showAlert, showNotice, explain }
  constructor(app) {
    this.app = app;
  }

  get documentId() {
    return this.app.state.connection && this.app.state.connection.documentId;
  }

  async show(pageNo) {
    const { state } = this.app;
    const { old } = state;
    try {
      old.page = await fetchPage(this.documentId, old.version, old.view, pageNo);
    } catch (error) {
      this.app.showAlert(this.app.explain(error.code, error.message));
      return;
    }
    if (state.old !== old) return; // back to the live table meanwhile
    $("old-number").textContent = old.version;
    $("old-banner").hidden = false;
    this.app.renderPage(old.page);
  }

  open(version) {
    this.app.state.old = { version, view: { ...PLAIN }, page: null };
    this.show(1);
  }

  backToLive() {
    const { state } = this.app;
    state.old = null;
    $("old-banner").hidden = true;
    if (state.page) this.app.renderPage(state.page);
  }

  async toggle() {
    const panel = $("versions");
    panel.hidden = !panel.hidden;
    $("versions-button").setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) await this.list();
  }

  async list() {
    const { documentId } = this;
    if (!documentId) return;
    try {
      const listing = await fetchVersions(documentId);
      renderVersions($("versions-list"), listing, {
        canRestore: this.app.state.edit,
        onOpen: (version) => this.open(version),
        onRestore: (version) => this.restore(version),
        download: (version) => downloadUrl(documentId, "tsv", PLAIN, version),
      });
    } catch (error) {
      this.app.showAlert(this.app.explain(error.code, error.message));
    }
  }

  async restore(version) {
    try {
      const restored = await restoreVersion(this.documentId, version, this.app.state.editKey);
      this.app.showNotice(`Version ${version} restored as version ${restored.version}`);
    } catch (error) {
      this.app.showAlert(this.app.explain(error.code, error.message));
      return;
    }
    this.backToLive();
    await this.list();
  }
}

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// The versions list: each with Open (read-only), Download and, for editors, Restore.
export function renderVersions(list, listing, { canRestore, onOpen, onRestore, download }) {
  const items = listing.versions.map((version) => {
    const li = document.createElement("li");
    li.dataset.version = version.version;
    const title = document.createElement("strong");
    title.textContent = `Version ${version.version}`;
    const detail = document.createElement("span");
    detail.className = "muted";
    detail.textContent = ` ${when.format(new Date(version.created_at))} · ${version.filename || "untitled"} · ${count(version.total_number)} rows · ${bytes(version.size)}`;
    li.append(title, detail);
    if (version.version === listing.current) li.append(Object.assign(document.createElement("span"), { className: "badge", textContent: "current" }));
    const actions = document.createElement("span");
    actions.className = "version-actions";
    const open = Object.assign(document.createElement("button"), { type: "button", className: "button", textContent: "Open" });
    open.addEventListener("click", () => onOpen(version.version));
    const get = Object.assign(document.createElement("a"), { className: "button", textContent: "Download", href: download(version.version) });
    actions.append(open, get);
    if (canRestore && version.version !== listing.current) {
      const restore = Object.assign(document.createElement("button"), { type: "button", className: "button", textContent: "Restore" });
      restore.addEventListener("click", () => onRestore(version.version));
      actions.append(restore);
    }
    li.append(actions);
    return li;
  });
  list.replaceChildren(...items);
}
