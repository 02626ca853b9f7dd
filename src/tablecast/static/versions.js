// Versions: the list of every version, an old one opened read-only (read over HTTP, sorted
// and searched on one's own), and restoring one, which makes it current again for everyone as
// a new version.

import { bytes, plural } from "./format.js";
import { PLAIN, api, downloadUrl, fetchPage, json } from "./views.js";

const $ = (id) => document.getElementById(id);

// Versions the list shows at first, and adds each time older ones are asked for: the panel
// stays a few hundred elements however long the history (20,000 versions listed whole were
// 120,000 elements and a 2 s frame).
export const VERSIONS_PAGE = 50;

// A page of versions, newest first: those numbered below `before` (null: from the newest).
export async function fetchVersions(documentId, before = null, limit = VERSIONS_PAGE) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (before !== null) params.set("before", String(before));
  return json(await fetch(`${api(documentId)}/versions?${params}`));
}

export async function restoreVersion(documentId, version, editKey) {
  const headers = editKey ? { Authorization: `Bearer ${editKey}` } : {};
  return json(await fetch(`${api(documentId)}/versions/${version}/restore`, { method: "POST", headers }));
}


export class Versions {
  // app: { state, renderPage, showAlert, showNotice, explain, ask, answered }
  constructor(app) {
    this.app = app;
    // What the panel lists: versions newest first, from the newest down to the oldest page
    // fetched; `next` is the `before` of the page after it (null: version 1 is listed).
    this.listing = null;
    // Fetches one at a time, in the order asked (opening, older, a new version), so none
    // applies its answer to a list another has changed meanwhile.
    this.queue = Promise.resolve();
    this.heard = null; // the connection whose new versions refresh the list
    this.asked = 0; // the newest version a refresh was asked for
  }

  get documentId() {
    return this.app.state.connection && this.app.state.connection.documentId;
  }

  get isOpen() {
    return !$("versions").hidden;
  }

  // A page of the old version being looked at, in its view; `text` says what is coming while
  // it is slow to come. Only the newest asked for is shown.
  async show(pageNo, text = `Loading page ${pageNo}…`, view = null) {
    const { state } = this.app;
    const { old } = state;
    const pending = this.app.ask(text, { view });
    let page;
    try {
      page = await fetchPage(this.documentId, old.version, old.view, pageNo);
    } catch (error) {
      if (state.pending === pending) this.app.showAlert(this.app.explain(error.code, error.message));
      this.app.answered(pending);
      return;
    }
    if (state.old !== old || state.pending !== pending) return; // overtaken meanwhile
    old.page = page;
    this.app.answered(pending);
    $("old-number").textContent = old.version;
    $("old-banner").hidden = false;
    this.app.renderPage(old.page);
  }

  open(version) {
    this.app.state.old = { version, view: { ...PLAIN }, page: null };
    this.show(1, `Opening version ${version}…`);
  }

  backToLive() {
    const { state } = this.app;
    state.old = null;
    this.app.answered(); // whatever was asked of the old version is not wanted any more
    $("old-banner").hidden = true;
    if (state.page) this.app.renderPage(state.page);
  }

  async toggle() {
    const panel = $("versions");
    panel.hidden = !panel.hidden;
    $("versions-button").setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) await this.list();
  }

  // One change to the list at a time; an error is shown, and the list stays as it was.
  run(change) {
    this.queue = this.queue.then(async () => {
      const { documentId } = this;
      if (!documentId) return;
      try {
        await change(documentId);
      } catch (error) {
        this.app.showAlert(this.app.explain(error.code, error.message));
        return;
      }
      this.render(documentId);
    });
    return this.queue;
  }

  // The newest page, afresh (the panel opening).
  list() {
    this.listen();
    return this.run(async (documentId) => {
      this.listing = await fetchVersions(documentId);
    });
  }

  // The page below the oldest listed, added under it.
  older() {
    return this.run(async (documentId) => {
      const { listing } = this;
      if (!listing || listing.next === null) return;
      const page = await fetchVersions(documentId, listing.next);
      const oldest = listing.versions.at(-1).version;
      listing.versions.push(...page.versions.filter((version) => version.version < oldest));
      listing.next = page.next;
      listing.current = page.current;
    });
  }

  // New versions on top, and which is current now; the older pages listed stay listed (a
  // version never changes once made). More new ones than a page: the newest page afresh.
  refresh() {
    return this.run(async (documentId) => {
      const { listing } = this;
      const page = await fetchVersions(documentId);
      const newest = listing && listing.versions.length ? listing.versions[0].version : null;
      const reaches = page.next === null || (newest !== null && page.next <= newest + 1);
      if (!listing || newest === null || !reaches) {
        this.listing = page;
        return;
      }
      listing.versions.unshift(...page.versions.filter((version) => version.version > newest));
      listing.current = page.current;
    });
  }

  // A new version while the panel is open (someone's upload or restore) refreshes it.
  listen() {
    const { connection } = this.app.state;
    if (!connection || this.heard === connection) return;
    this.heard = connection;
    connection.addEventListener("message", ({ detail: message }) => {
      const { listing } = this;
      if (message.type !== "page" || message.version === null || !this.isOpen || !listing) return;
      // every viewer gets the new version's page, and followers more pages of it: once
      if (message.version <= Math.max(listing.current ?? 0, this.asked)) return;
      this.asked = message.version;
      this.refresh();
    });
  }

  render(documentId) {
    if (!this.listing) return;
    renderVersions($("versions-list"), this.listing, {
      canRestore: this.app.state.edit,
      onOpen: (version) => this.open(version),
      onRestore: (version) => this.restore(version),
      download: (version) => downloadUrl(documentId, "tsv", PLAIN, version),
    });
    const older = $("versions-older");
    older.hidden = this.listing.next === null;
    older.onclick = () => this.older();
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
    await this.refresh();
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
    detail.textContent = ` ${when.format(new Date(version.created_at))} · ${version.filename || "untitled"} · ${plural(version.total_number, "row", "rows")} · ${bytes(version.size)}`;
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
