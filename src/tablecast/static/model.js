// The view model: from the app's state to what each part of the screen shows (its texts,
// counts, what is enabled, which banner). Pure, so that what a person reads is unit-tested
// under Node (tests/static/); the DOM modules only put it on the page.

import { downloadUrl } from "./api.js";
import { bytes, count, plural } from "./format.js";
import { PLAIN, describeView, isSearch } from "./views.js";

// Error codes (docs/protocol.md) in plain words.
export const ERRORS = {
  not_text: "This does not look like a table: the file holds binary data. Choose a TSV or CSV file.",
  empty_file: "This file is empty: there are no rows to show.",
  bad_table: "This file could not be read as a table.",
  cell_too_large: "A cell in this file is too long to be read (is a quote never closed?).",
  bad_option: "The file could not be read with these options.",
  upload_size_mismatch: "The file changed while it was being uploaded. Try again.",
  connection_lost: "The connection was lost during the upload. Try again.",
  message_too_large: "The browser sent a piece of the file larger than the server accepts.",
  shutting_down: "The server is restarting. Try again in a moment.",
  no_upload: "The upload was interrupted. Try again.",
  edit_key_required: "You have a view link: only someone with the edit link can upload to this table.",
  wrong_edit_key: "This edit link does not open this table. You can still view it.",
  rate_limited: "Slow down: too many page turns at once.",
  version_not_found: "That version is no longer there.",
  storage_full: "The server has no room for this table right now. Try again later.",
};

// An error code in words; `fallback` (the server's own message) for codes not known here.
export function explain(code, fallback, limits = null) {
  if (code === "too_large") {
    return limits
      ? `This file is larger than the ${bytes(limits.max_upload_bytes)} limit.`
      : "This file is larger than the server accepts.";
  }
  return ERRORS[code] || fallback || "Something went wrong.";
}

// The alert over the table: one sentence or more, and whether the table is still there.
export function alertText(text, hasVersion) {
  const unchanged = hasVersion ? " The table is unchanged." : "";
  const sentence = /[.!?…]$/.test(text) ? text : `${text}.`; // the server's messages end bare
  return sentence + unchanged;
}

export function hasVersion(state) {
  return Boolean(state.page && state.page.version !== null);
}

// The connection, in the status badge and the offline banner.
export const STATUS = {
  idle: "Offline",
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  closed: "Offline",
  missing: "Not found",
  full: "Server full",
};

// `waitLeft`: milliseconds until the next attempt, when one is counted down (so that a long
// wait is seen to be a wait).
export function statusText(connectionState, waitLeft = null) {
  if (connectionState === "reconnecting" && waitLeft !== null) {
    return `Reconnecting in ${Math.max(1, Math.round(waitLeft / 1000))} s…`;
  }
  return STATUS[connectionState];
}

// Lost connection: what cannot work without it is disabled until it is back (a file dropped
// meanwhile waits for it).
export function isOffline(state) {
  return state.connectionState === "reconnecting";
}

export function online(state) {
  const offline = isOffline(state);
  return {
    offline, // the banner shows, and every control needing the connection is disabled
    dropText: offline ? "Drop to upload once the connection is back" : "Drop to upload",
  };
}

// The page bar: which buttons lead anywhere, and the page field.
export function pager(page, offline) {
  return {
    backDisabled: offline || page.page_no <= 1, // first and previous
    onDisabled: offline || page.page_no >= page.page_count, // next and last
    fieldDisabled: offline,
    pageNo: page.page_no,
    pageCount: page.page_count,
    pages: count(page.page_count),
  };
}

// The page a turn goes to, kept within the table; null when that is the page shown.
export function turnTarget(page, pageNo) {
  const target = Math.min(Math.max(1, pageNo), page.page_count);
  return target === page.page_no ? null : target;
}

// "Rows 51–100 of 1,200 matching"
export function rangeText(page) {
  const last = page.first_row + page.data.length - 1;
  const what = isSearch(page.view) ? " matching" : "";
  return page.total_number === 0
    ? `No${what} rows`
    : `Rows ${count(page.first_row)}–${count(last)} of ${count(page.total_number)}${what}`;
}

// Rows with more or fewer cells than the header (or, without one, than the first row).
export function raggedNote(page) {
  const ragged = page.ragged_rows || 0;
  const headed = page.view && page.view.header != null ? page.view.header : page.has_header;
  const against = headed ? "the header" : "the first row";
  return {
    hidden: ragged === 0,
    text: `${plural(ragged, "row has", "rows have")} more or fewer cells than ${against}`,
  };
}

// An edit key sent and not answered yet: this viewer may well be an editor.
export function checkingAccess(state) {
  return !state.access.settled && Boolean(state.editKey);
}

// Whether files may be offered: on a new table, and to editors (or while an edit key this
// browser holds is being checked); never on a view link, nor on a table that does not exist.
export function mayUpload(state) {
  if (state.missing) return false;
  if (!state.url) return !state.documentId || Boolean(state.editKey);
  return state.edit || checkingAccess(state);
}

// What this viewer may do: a view link browses; an edit link also uploads and leads. The
// links are offered once there is a table to share.
export function access(state) {
  const shared = Boolean(state.url) && hasVersion(state);
  return {
    readOnly: Boolean(state.url) && !state.edit && !checkingAccess(state),
    choose: mayUpload(state),
    copyLink: shared,
    copyEditLink: shared && state.edit && Boolean(state.editKey),
  };
}

// Which screen: a new table, waiting for an upload, a table that does not exist, or the table.
export function screen(state, page) {
  if (state.missing) return "missing";
  if (page.version !== null) return "document";
  return mayUpload(state) ? "empty" : "waiting";
}

// The bar's title and the tab's: which table, and which version when it is an old one.
export function titles(state, page) {
  const name = page.name || page.filename || "Untitled table";
  return {
    hidden: page.version === null && state.edit,
    filename: page.filename || "Untitled table",
    version: page.version === null ? "" : `version ${page.version}`,
    tab: page.version === null ? "tablecast" : state.old ? `${name} (version ${page.version})` : name,
  };
}

// Following the group, or browsing on one's own.
export function follow(state) {
  return { checked: state.follow, alone: !state.follow };
}

export function presence(viewers, name) {
  return {
    viewers: viewers === 1 ? "Only you" : plural(viewers, "viewer", "viewers"),
    me: `you are ${name}`,
  };
}

// Someone else's upload, the latest begun: null when there is none.
export function othersUpload(others) {
  const latest = [...others.values()].at(-1);
  if (!latest) return null;
  const name = latest.filename || "a file";
  if (!latest.size) return { text: `Someone is uploading ${name}: ${bytes(latest.received)}`, percent: null };
  const percent = Math.floor((100 * latest.received) / latest.size);
  return { text: `Someone is uploading ${name}: ${percent}%`, percent };
}

// One's own upload, as its acknowledgements come.
export function uploadProgress({ acked, size, rate }) {
  const percent = size ? Math.floor((100 * acked) / size) : 100;
  const text =
    acked >= size
      ? `${bytes(size)} · finishing…`
      : `${bytes(acked)} of ${bytes(size)} · ${percent}% · ${bytes(rate)}/s`;
  return { percent, text };
}

// One's own upload before its first chunk.
export function uploadStarting(size, { offline = false, checking = false } = {}) {
  if (offline) return "Waiting for the connection: the upload starts when it is back";
  if (checking) return "Checking your edit link…";
  return `Starting… ${bytes(size)}`;
}

export function uploadRefused(filename, refused) {
  return refused
    ? `This edit link does not open this table, so ${filename} was not uploaded. You can still view it.`
    : explain("edit_key_required");
}

export function uploadBusy(filename) {
  return `${filename} was not uploaded: another file is on its way. Choose it again when that one is done.`;
}

export function newVersionNotice(page) {
  return `New version ${page.version} — ${plural(page.total_number, "row", "rows")}`;
}

export function restoredNotice(version, restored) {
  return `Version ${version} restored as version ${restored}`;
}

// The old version's banner: null when the live table is shown.
export function oldBanner(state) {
  return state.old && state.old.page ? { version: String(state.old.version) } : null;
}

// A page or view asked for and slow to come: said in the view bar, the table dimmed.
export function busy(pending) {
  const shown = Boolean(pending && pending.shown);
  return { shown, text: shown ? pending.text : "" };
}

// What a view change is doing, in words: "Sorting by dep_delay ▼…"
export function describeChange(from, to, columns = []) {
  const name = (column) => columns[column] ?? String(column);
  if (to.sort !== from.sort || (to.sort !== null && to.order !== from.order)) {
    if (to.sort === null) return "Back to file order…";
    return `Sorting by ${name(to.sort)} ${to.order === "desc" ? "▼" : "▲"}…`;
  }
  if (to.q !== from.q) return to.q ? `Searching for “${to.q}”…` : "Showing every row…";
  const changed = Object.keys({ ...from.filters, ...to.filters }).find(
    (column) => (from.filters[column] || "") !== (to.filters[column] || ""),
  );
  if (changed !== undefined) return `Filtering ${name(changed)}…`;
  if (to.header !== from.header) return "Switching the header row…";
  return "Updating the view…";
}

export function loadingPage(pageNo) {
  return `Loading page ${count(pageNo)}…`;
}

// The bar above the table: search, the header switch, what one's own view is (the group's
// is said over the table, with who set it), and the downloads of what is shown.
export function viewBar(state, page) {
  const view = page.view || PLAIN;
  const oldVersion = state.old && state.old.version;
  const asUploaded = state.asUploaded.get(page.version);
  const described = describeView(view, page.columns, asUploaded);
  const following = state.follow && !state.old && page.shared === true;
  const shared = following && described !== "";
  const by = shared && view.by ? ` — set by ${view.by === state.name ? "you" : view.by}` : "";
  return {
    search: view.q,
    header: page.has_header,
    note: described && !shared ? `Your view: ${described}` : "",
    // Clear for everyone is an editor's (a view link's "clear" is browsing the whole table
    // alone, which the group's note offers); on one's own, it clears one's own view
    clearHidden: described === "" || (shared && !state.edit),
    clearText: shared ? "Clear for everyone" : "Clear",
    group: shared ? `Following the group's view: ${described}${by}.` : null,
    downloads: {
      tsv: downloadUrl(page.id, "tsv", view, oldVersion),
      csv: downloadUrl(page.id, "csv", view, oldVersion),
      jsonl: downloadUrl(page.id, "jsonl", view, oldVersion),
      original: downloadUrl(page.id, "original", null, oldVersion),
    },
  };
}

const NUMERIC = new Set(["integer", "decimal"]);
// What the server reads as a number (tablecast.table.columns): no currency, no percent sign
const NUMBER = /^(?=.*\d)[-+]?(\d{1,3}(,\d{3})+|\d{1,3}(\.\d{3})+(?=,)|\d+)?([.,]\d+)?$/;

// Cells that say a value is missing, as the server reads them (tablecast.table.columns): they
// do not make a column of numbers text.
const MISSING = new Set([
  "", "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind", "1.#qnan", "<na>",
  "n/a", "na", "null", "nan", "none", "-",
]);

// Before the server's types arrive: a guess from this page's cells.
function looksNumeric(cells) {
  let seen = false;
  for (const cell of cells) {
    if (cell === undefined || MISSING.has(cell.trim().toLowerCase())) continue;
    if (!NUMBER.test(cell)) return false;
    seen = true;
  }
  return seen;
}

// Which columns are right-aligned as numbers: by the server's types once known.
export function numericColumns(page, types) {
  return page.columns.map((_, i) => (types ? NUMERIC.has(types[i]) : looksNumeric(page.data.map((row) => row[i]))));
}

// The column types known for a page (they come after its version's first page).
export function typesOf(state, page) {
  return state.types.get(`${page.version}:${page.has_header}`) || null;
}

// The sort arrow of a column in a view.
export function sortOf(view, column) {
  return view && view.sort === column ? view.order : null;
}

export function arrow(sorted) {
  return sorted === "asc" ? "▲" : sorted === "desc" ? "▼" : "";
}

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// The versions list: each with Open (read-only), Download and, for editors, Restore.
export function versionItems(listing, { documentId, canRestore }) {
  return {
    items: listing.versions.map((version) => ({
      version: version.version,
      title: `Version ${version.version}`,
      detail: ` ${when.format(new Date(version.created_at))} · ${version.filename || "untitled"} · ${plural(version.total_number, "row", "rows")} · ${bytes(version.size)}`,
      current: version.version === listing.current,
      download: downloadUrl(documentId, "tsv", PLAIN, version.version),
      restore: canRestore && version.version !== listing.current,
    })),
    older: listing.next !== null, // "Show older versions"
  };
}
