// The view model: from the app's state to what each part of the screen shows (its texts,
// counts, what is enabled, which banner). Pure, so that what a person reads is unit-tested
// under Node (tests/static/); the DOM modules only put it on the page.

import { downloadUrl } from "./api.js";
import { bytes, count, plural } from "./format.js";
import { PLAIN, TYPES, describeView, facetList, isSearch, rowsKey, sameView } from "./views.js";

// Error codes (docs/protocol.md) in plain words.
export const ERRORS = {
  not_text:
    "This does not look like a table: the file holds binary data. Choose a TSV, CSV, Excel," +
    " OpenDocument, Parquet, Arrow or JSON file.",
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
  row_not_found: "That row is gone: someone deleted it since you looked, so your edit was not saved.",
};

// An error code in words; `fallback` (the server's own message) for codes not known here.
export function explain(code, fallback, limits = null) {
  // (too large to read, as against to send: the server says what it could not do)
  if (code === "too_large" && !(fallback && !/larger than the limit/.test(fallback))) {
    return limits
      ? `This file is larger than the ${bytes(limits.max_upload_bytes)} limit.`
      : "This file is larger than the server accepts.";
  }
  // (the server's messages start in lower case)
  const said = fallback ? fallback.charAt(0).toUpperCase() + fallback.slice(1) : "";
  return ERRORS[code] || said || "Something went wrong.";
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

// The workbook's sheet shown, in the bar, when it has more than one (docs/protocol.md,
// "POST .../sheet"): to those who may change the table (an edit link holding its key, on the
// live table) a Sheet select, the current one selected, disabled while another is read (the
// one asked for selected, and `reading` said beside it); to the others, the sheet's name.
// Hidden for a table read from no workbook or from one sheet, and over an old version.
export function sheetSwitch(state, page) {
  const hidden = { shown: false, editable: false, sheets: [], selected: "", disabled: true, text: "", reading: "" };
  if (!page || page.version === null || page.version === undefined || state.old) return hidden;
  const sheets = page.sheets || [];
  if (sheets.length < 2 || typeof page.sheet !== "string") return hidden;
  if (!(state.edit && state.editKey)) return { ...hidden, shown: true, text: `Sheet: ${page.sheet}` };
  const asked = state.sheetAsked;
  return {
    ...hidden,
    shown: true,
    editable: true,
    sheets,
    selected: asked ? asked.sheet : page.sheet,
    disabled: Boolean(asked) || isOffline(state),
    reading: asked ? `Reading sheet ${asked.sheet}…` : "",
  };
}

// Whether another sheet may be asked for now: on the select shown to an editor, and none
// asked for already.
export function maySwitchSheet(state, page) {
  const shown = sheetSwitch(state, page);
  return shown.editable && !shown.disabled;
}

// Another sheet refused (an error code) or never answered (the network: no code). A sheet the
// workbook lacks is said as the server says it (it names the sheets there are), not as an
// upload's options refused.
export function sheetNotRead(sheet, code, message, limits = null) {
  if (!code) return `Sheet ${sheet} could not be asked for: is the connection lost?`;
  return explain(code === "bad_option" && message ? null : code, message, limits);
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
  const facets = (view) => JSON.stringify(facetList(view));
  if (facets(to) !== facets(from)) return facetList(to).length ? "Picking rows by value…" : "Showing every value…";
  const typed = Object.keys({ ...from.types, ...to.types }).find(
    (column) => ((from.types || {})[column] || null) !== ((to.types || {})[column] || null),
  );
  if (typed !== undefined) {
    const type = (to.types || {})[typed];
    return type ? `Reading ${name(typed)} as ${type}…` : `Reading ${name(typed)} as inferred…`;
  }
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
      parquet: downloadUrl(page.id, "parquet", view, oldVersion),
      arrow: downloadUrl(page.id, "arrow", view, oldVersion),
      xlsx: downloadUrl(page.id, "xlsx", view, oldVersion),
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

// The column types known for a page (they come after its version's first page): the page's
// own when it says them (a view's overrides applied), else its version's.
export function typesOf(state, page) {
  return page.types || state.types.get(`${page.version}:${page.has_header}`) || null;
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
  const items = listing.versions.map((version) => ({
    version: version.version,
    title: `Version ${version.version}`,
    detail: ` ${when.format(new Date(version.created_at))} · ${version.filename || "untitled"} · ${plural(version.total_number, "row", "rows")} · ${bytes(version.size)}`,
    current: version.version === listing.current,
    download: downloadUrl(documentId, "tsv", PLAIN, version.version),
    restore: canRestore && version.version !== listing.current,
    changes: version.version > 1, // from the version before it
    at: Date.parse(version.created_at),
  }));
  return {
    items: bursts(items),
    older: listing.next !== null, // "Show older versions"
  };
}

// Versions made within this long of the next are a burst (rows added as a log grows, cells
// set one after another), listed as one entry that opens on them: the list stays readable.
export const BURST_MS = 60_000;
export const BURST_LEAST = 3; // fewer are listed as they are

// Items newest first, runs of BURST_LEAST or more made close together as groups: { group,
// title, detail, items }. The current version stays on its own, on top.
export function bursts(items) {
  const listed = [];
  let run = [];
  const close = () => {
    if (run.length >= BURST_LEAST) {
      const newest = run[0];
      const oldest = run[run.length - 1];
      listed.push({
        group: true,
        title: `Versions ${oldest.version}–${newest.version}`,
        detail: ` ${run.length} versions, ${when.format(new Date(oldest.at))} to ${when.format(new Date(newest.at))}`,
        items: run,
      });
    } else {
      listed.push(...run);
    }
    run = [];
  };
  for (const item of items) {
    const before = run[run.length - 1];
    if (item.current || (before && before.at - item.at > BURST_MS)) close();
    if (item.current) listed.push(item);
    else run.push(item);
  }
  close();
  return listed;
}

// Column profiles and facets (docs/protocol.md, "Column profiles" and "Facets")

// Which rows of which version a page shows, as one string: its column profiles are asked for
// again when it changes (a new version, a search, a filter, a facet, a type, the header), never
// for a page turn or a sort. null: nothing to profile.
export function profileKey(page) {
  if (!page || page.version === null || page.version === undefined) return null;
  return `${page.id}:${page.version}:${rowsKey(page.view)}`;
}

const MAX_FACET_TEXT = 200; // characters of a facet value (tablecast.table.view.MAX_TEXT)
const STRIP_WIDTH = 100; // the strip's viewBox; CSS stretches it to the column
const STRIP_HEIGHT = 16;

// Bars as one SVG path (one element per column, however many bars: 200 columns stay 200
// elements): `heights` from 0 to 1, side by side, bottom-aligned, with a hairline gap.
export function barsPath(heights) {
  if (!heights.length) return "";
  const width = STRIP_WIDTH / heights.length;
  const gap = heights.length > 1 ? Math.min(1, width / 4) : 0;
  return heights
    .map((height, i) => {
      if (height <= 0) return "";
      const h = Math.max(1, Math.round(height * STRIP_HEIGHT * 100) / 100); // a bar that counts shows
      const x = Math.round(i * width * 100) / 100;
      const w = Math.round((width - gap) * 100) / 100;
      return `M${x} ${STRIP_HEIGHT}h${w}v-${h}h-${w}z`;
    })
    .join("");
}

// A number from a histogram bin's edge, in words: dates and date-times are seconds since 1970.
function edge(value, type) {
  if (type === "date") return new Date(value * 1000).toISOString().slice(0, 10);
  if (type === "datetime") return new Date(value * 1000).toISOString().slice(0, 16).replace("T", " ");
  return number(value);
}

// A mean or a bin's edge: at most four decimals, grouped.
export function number(value) {
  return new Intl.NumberFormat("en-US", { maximumFractionDigits: 4 }).format(value);
}

// "(empty)" for the empty cell: a value a person can see.
export function valueText(value) {
  return value === "" ? "(empty)" : value;
}

// The strip under a column's name: a 20-bin histogram for numbers, dates and date-times, the
// top values' bars for text and booleans; its title says it in words. null: no profile.
export function strip(profile) {
  if (!profile) return null;
  const { histogram, top } = profile;
  if (histogram) {
    const most = Math.max(0, ...histogram.map((bin) => bin.count));
    const first = histogram[0];
    const last = histogram.at(-1);
    const range = first ? ` from ${edge(first.from, profile.type)} to ${edge(last.to, profile.type)}` : "";
    return {
      kind: "histogram",
      path: barsPath(histogram.map((bin) => (most ? bin.count / most : 0))),
      title: `${profile.name}: ${plural(profile.values, "value", "values")}${range}`,
    };
  }
  const most = top.length ? top[0].count : 0;
  return {
    kind: "top",
    path: barsPath(top.map((item) => (most ? item.count / most : 0))),
    title: `${profile.name}: ${top.map((item) => `${valueText(item.value)} ${count(item.count)}`).join(", ") || "no values"}`,
  };
}

// The strips of every column: null for each until profiles come. Those of rows shown before
// stay (dimmed: `stale`) until the new ones come, so that the header does not flicker.
export function strips(profiles, page) {
  const byColumn = new Map((profiles.columns || []).map((profile) => [profile.column, profile]));
  return {
    strips: page.columns.map((_, i) => strip(byColumn.get(i) || null)),
    stale: profiles.columns !== null && profiles.key !== profileKey(page),
  };
}

// A column's profile for the rows a page shows; null until it comes.
export function profileOf(profiles, page, column) {
  if (profiles.key !== profileKey(page) || !profiles.columns) return null;
  return profiles.columns.find((profile) => profile.column === column) || null;
}

// The profile in the column menu, as rows of a list; a number or date column says its range.
export function profileRows(profile) {
  const rows = [["Type", profile.type === profile.inferred ? profile.type : `${profile.type} (inferred ${profile.inferred})`]];
  rows.push(["Rows", count(profile.count)]);
  rows.push(["Values", count(profile.values)]);
  rows.push(["Missing", count(profile.missing)]);
  if (profile.invalid) rows.push(["Not read as " + profile.type, count(profile.invalid)]);
  rows.push(["Distinct", count(profile.distinct)]);
  if (profile.min !== null && profile.min !== undefined) rows.push(["Min", profile.min]);
  if (profile.max !== null && profile.max !== undefined) rows.push(["Max", profile.max]);
  if (profile.mean !== null && profile.mean !== undefined) rows.push(["Mean", number(profile.mean)]);
  return rows;
}

// The commonest values in words; a list of values seen once each says nothing.
function topText(profile) {
  if (profile.values > 1 && profile.distinct === profile.values) return "every value is different";
  return profile.top.map((item) => `${valueText(item.value)} ${count(item.count)}`).join(" · ");
}

// The column menu: its profile, sort, the values to pick as facets, and the type to read the
// column as. `menu`: state.menu; `profile`: the column's, when known.
export function columnMenu(menu, page, profile, { offline = false } = {}) {
  const view = { ...PLAIN, ...(page.view || {}) };
  const column = menu.column;
  const name = page.columns[column] ?? `Column ${column + 1}`;
  const picked = new Set((view.facets || {})[String(column)] || []);
  const answer = menu.values;
  let values = [];
  let more = false;
  let note = "Loading values…";
  if (menu.failed) note = "The values could not be counted.";
  else if (answer) {
    values = answer.values.map((item) => ({
      value: item.value,
      text: valueText(item.value),
      count: count(item.count),
      selected: picked.has(item.value), // the view shown says, even before its counts come
      // the server takes facet values of at most 200 characters: a longer one is not offered
      disabled: item.value.length > MAX_FACET_TEXT,
    }));
    // a value picked and not among those counted (past the limit) stays there to unpick
    for (const value of picked) {
      if (!values.some((item) => item.value === value)) {
        values.push({ value, text: valueText(value), count: "", selected: true, disabled: false });
      }
    }
    more = answer.others > 0 && menu.limit < 1000;
    note =
      answer.others > 0
        ? `${plural(answer.distinct, "distinct value", "distinct values")}; ${plural(answer.others, "row has", "rows have")} others`
        : plural(answer.distinct, "distinct value", "distinct values");
  }
  const override = (view.types || {})[String(column)] || "";
  const inferred = profile ? profile.inferred : null;
  return {
    column,
    title: name,
    sorted: view.sort === column ? view.order : null,
    rows: profile ? profileRows(profile) : [],
    top: profile ? topText(profile) : "",
    loading: !profile,
    values,
    more,
    note,
    type: {
      value: override,
      options: [
        { value: "", text: inferred ? `as inferred (${inferred})` : "as inferred" },
        ...TYPES.map((type) => ({ value: type, text: type })),
      ],
    },
    disabled: offline,
  };
}

// The facets chosen, as chips above the table ("city = paris ×"), and who chose them when they
// are the group's: null when there are none.
export function facetChips(state, page) {
  const view = page.view || PLAIN;
  const list = facetList(view);
  if (!list.length) return null;
  const chips = [];
  for (const [column, values] of list) {
    const name = page.columns[column] ?? `Column ${column + 1}`;
    for (const value of values) {
      chips.push({ column, value, text: `${name} = ${valueText(value)}`, label: `Remove ${name} = ${valueText(value)}` });
    }
  }
  const shared = state.follow && !state.old && page.shared === true;
  const by = shared && view.by ? (view.by === state.name ? "you" : view.by) : null;
  // a view link's "clear" is its own view (it stops following): only an editor's is everyone's
  return { chips, by: by ? `set by ${by}` : "", clearText: shared && state.edit ? "Clear all for everyone" : "Clear all" };
}

// What changed between two versions (docs/protocol.md, "GET .../diff")

// "1 row added, 2 changed": what a diff's counts say.
export function changeCounts(counts) {
  const parts = [
    ["added", counts.added],
    ["changed", counts.changed],
    ["removed", counts.removed],
  ].filter(([, n]) => n);
  if (!parts.length) return "no row changed";
  return parts.map(([what, n], i) => `${i ? count(n) : plural(n, "row", "rows")} ${what}`).join(", ");
}

export function changesTitle(diff) {
  return `Version ${diff.from} → version ${diff.to}: ${changeCounts(diff.counts)}`;
}

// What the changes panel says under its title: the header's change, and what is not listed.
export function changesNote(diff) {
  const notes = [];
  if (diff.from_columns) notes.push(`The columns were ${diff.from_columns.join(", ")}.`);
  if (diff.truncated) {
    const listed = diff.added.length + diff.changed.length + diff.removed.length;
    const all = diff.counts.added + diff.counts.changed + diff.counts.removed;
    notes.push(`Showing ${count(listed)} of ${count(all)} changes.`);
  }
  return notes.join(" ");
}

// The rows of the changes panel, each change a row: changed rows (the changed cells, old and
// new, beside the row's other cells), added rows, then removed rows (of the older version), each by
// its row number.
export function changeRows(diff, width) {
  const rows = [];
  for (const change of diff.changed) {
    const now = change.new_cells || [];
    const cells = Array.from({ length: Math.max(width, now.length) }, (_, column) => {
      const cell = change.cells[String(column)];
      return cell ? { text: cell[1] ?? "", old: cell[0] ?? "", changed: true } : { text: now[column] ?? "", changed: false };
    });
    const moved = change.from_row !== change.row ? ` (row ${change.from_row} before)` : "";
    rows.push({ kind: "changed", label: `Row ${change.row} changed${moved}`, cells });
  }
  for (const [kind, list] of [["added", diff.added], ["removed", diff.removed]]) {
    for (const row of list) {
      const cells = Array.from({ length: Math.max(width, row.cells.length) }, (_, column) => ({
        text: row.cells[column] ?? "",
        changed: false,
      }));
      const of = kind === "removed" ? ` (of version ${diff.from})` : "";
      rows.push({ kind, label: `Row ${row.row} ${kind}${of}`, cells });
    }
  }
  return rows;
}

// The notice of a document changed since this browser last showed it: null if it did not,
// or no row changed.
export function sinceLastLooked(seen, diff) {
  if (!seen || !diff || diff.from !== seen) return null;
  const { added, changed, removed } = diff.counts;
  if (!added && !changed && !removed) return null;
  return `Since you last looked (version ${seen}, now ${diff.to}): ${changeCounts(diff.counts)}.`;
}

// Cells edited in place (docs/protocol.md, "Changing rows: PATCH .../cells")

export const HIGHLIGHT_FOR = 4000; // ms a cell a new version changed stays marked (app.css fades it as long)
export const WATCH_EDITS_FOR = 60_000; // ms one's own edits are watched for someone overwriting them

export function cellKey(row, column) {
  return `${row}:${column}`;
}

// Each row's number, as the API names rows: a sorted or searched view says each row's number
// in the file; otherwise they run on from the page's first.
export function rowNumbers(page) {
  return page.data.map((_, r) => (page.rows ? page.rows[r] : page.first_row + r));
}

// Whether a page numbers its rows as the file does: a view that switches the header row counts
// them from another record.
function numberedAsFile(page) {
  if (!page || page.version === null || page.version === undefined) return false;
  return !page.view || page.view.header == null;
}

// Cells may be edited on an edit link holding its key (the API asks for it), on the live table,
// in a view numbering rows as the file does.
export function mayEditCells(state, page) {
  return Boolean(state.edit && state.editKey && !state.old && numberedAsFile(page));
}

// What a cell shows: one's own value while it is saved, else the page's text; null when the
// page does not show its row.
export function cellText(page, row, column, saving = new Map()) {
  const r = rowNumbers(page).indexOf(row);
  if (r < 0) return null;
  const mine = saving.get(cellKey(row, column));
  return mine ? mine.value : (page.data[r][column] ?? "");
}

// Where the cell editor goes on a page: its cell, when the page shows its row and cells may be
// edited there; null otherwise.
export function editorCell(state, page) {
  const { editor } = state;
  if (!editor || !mayEditCells(state, page) || !rowNumbers(page).includes(editor.row)) return null;
  return { row: editor.row, column: editor.column };
}

// The marks on a live page's cells: one's own values on their way (`saving`), and the cells a
// new version just changed (`changed`), each with how long it has been marked (a page drawn
// again goes on fading them from there). `now`: performance.now().
export function cellMarks(state, page, now) {
  if (state.old || !numberedAsFile(page)) return { saving: [], changed: [] };
  const shown = new Set(rowNumbers(page));
  const saving = [...state.saving.values()]
    .filter((cell) => shown.has(cell.row))
    .map(({ row, column, value }) => ({ row, column, value }));
  const changed = [];
  for (const [key, at] of state.highlights) {
    const [row, column] = key.split(":").map(Number);
    if (shown.has(row) && now - at < HIGHLIGHT_FOR) changed.push({ row, column, age: Math.max(0, now - at) });
  }
  return { saving, changed };
}

// The cells a new version's page changed on the page shown before it, as "ROW:COLUMN" keys;
// null when the two cannot be compared cell by cell: another page, view or columns, or fewer
// rows (rows after one deleted move up a number: compared by number, they would all look
// changed). A row the table in file order did not show before is new: all its cells are.
export function changedCells(before, page) {
  if (!before || !page || page.cause !== "version") return null;
  if (!numberedAsFile(before) || !numberedAsFile(page) || before.version === page.version) return null;
  if (before.id !== page.id || before.page_no !== page.page_no || before.has_header !== page.has_header) return null;
  if (JSON.stringify(before.columns) !== JSON.stringify(page.columns)) return null;
  if (!sameView(before.view || PLAIN, page.view || PLAIN)) return null;
  if (page.total_number < before.total_number) return null;
  const shown = new Map(rowNumbers(before).map((row, r) => [row, before.data[r]]));
  const keys = [];
  rowNumbers(page).forEach((row, r) => {
    const now = page.data[r];
    const was = shown.get(row);
    if (!was && page.rows) return; // a sorted or searched view: moved here, not changed
    const width = Math.max(now.length, was ? was.length : 0);
    for (let column = 0; column < width; column += 1) {
      if (!was || (now[column] ?? "") !== (was[column] ?? "")) keys.push(cellKey(row, column));
    }
  });
  return keys;
}

// One's own edits (`mine`: { row, column, value, version: the one its save made, total: that
// version's rows, columns, at: Date.now() }) against a page: those a page of a later version
// shows with another value were overwritten (`told`, each with what it shows `now`: said once,
// then forgotten); the others are `kept` a minute from their save. Cells being saved again
// (keys of `saving`) are one's own doing. Only a page of every row (no search) says whether
// rows were deleted since, which moves row numbers: then the edits are forgotten.
export function overwrittenEdits(mine, page, now, saving = new Map()) {
  const told = [];
  const kept = [];
  const judged = numberedAsFile(page) && !isSearch(page.view);
  const numbers = judged ? rowNumbers(page) : [];
  for (const edit of mine) {
    if (now - edit.at > WATCH_EDITS_FOR) continue;
    if (!judged || page.version <= edit.version || saving.has(cellKey(edit.row, edit.column))) {
      kept.push(edit);
      continue;
    }
    if (page.total_number < edit.total || JSON.stringify(page.columns) !== JSON.stringify(edit.columns)) continue;
    const r = numbers.indexOf(edit.row);
    const shows = r < 0 ? null : (page.data[r][edit.column] ?? "");
    if (shows === null || shows === edit.value) kept.push(edit);
    else told.push({ ...edit, now: shows });
  }
  return { told, kept };
}

function columnName(columns, column) {
  return columns[column] ?? `Column ${column + 1}`;
}

// What a screen reader says of the cell editor: "Edit row 3, city".
export function editorLabel(page, row, column) {
  return `Edit row ${count(row)}, ${columnName(page.columns, column)}`;
}

// "Your edit of row 3, column city was overwritten: it now says “Quito”."
export function overwrittenText(edit) {
  const now = edit.now === "" ? "it is empty now" : `it now says “${edit.now}”`;
  const name = columnName(edit.columns, edit.column);
  return `Your edit of row ${count(edit.row)}, column ${name} was overwritten: ${now}.`;
}

// The cells a save's answer says it overwrote (`changed.overwritten`) that someone else had set
// since the version edited: not those one set oneself (`mine`: one's saved and saving values).
export function othersOverwritten(overwritten, mine) {
  return (overwritten || []).filter(
    (cell) => !mine.some((edit) => edit.row === cell.row && edit.column === cell.column && edit.value === cell.was),
  );
}

// "Your edit replaced “Lima” in row 3, set by someone else since you looked." null: none.
export function replacedText(overwritten) {
  if (!overwritten.length) return null;
  const cells = overwritten.map((cell) => `“${cell.was ?? ""}” in row ${count(cell.row)}`).join(", ");
  return `Your edit replaced ${cells}, set by someone else since you looked.`;
}

// A save refused (an error code) or never answered (the network: no code).
export function notSaved(code, message, limits = null) {
  return code ? explain(code, message, limits) : "Your edit could not be sent: is the connection lost?";
}

// A patch (docs/protocol.md, "patch") made a page again from the page it patches: `shown`,
// which must be the same page of the same view of its `base` version; null if it is not.
export function patched(shown, patch) {
  if (!shown || shown.version !== patch.base || shown.page_no !== patch.page_no) return null;
  if (JSON.stringify(shown.view || null) !== JSON.stringify(patch.view || null)) return null;
  const data = shown.data.slice(0, patch.length);
  for (const [at, row] of Object.entries(patch.changes)) data[Number(at)] = row;
  if (data.length !== patch.length || data.some((row) => row === undefined)) return null;
  const { base, changes, length, ...fields } = patch;
  return { ...fields, type: "page", data };
}

// Rows added and deleted (docs/protocol.md, "POST .../rows" and "DELETE .../rows"), where cells
// may be edited (mayEditCells): a row added goes to the end of the table; rows deleted are
// named by number as the version shown numbers them.

// What the New row form says under its fields when a blank row is tried.
export const BLANK_ROW = "Type a cell or more first: a blank row is not added.";

// A row holding nothing but spaces is a slip of the Enter key more often than a row.
export function isBlankRow(cells) {
  return cells.every((cell) => cell.trim() === "");
}

// The New row form's values (`values`, for columns `from`) carried to other columns (`to`: a
// new version renamed, added or moved some): each by its column's name, else by its place when
// there are as many columns as before.
export function carriedCells(from, values, to) {
  return to.map((name, i) => {
    if (from[i] === name) return values[i] ?? "";
    const at = from.indexOf(name);
    if (at >= 0) return values[at] ?? "";
    return from.length === to.length ? (values[i] ?? "") : "";
  });
}

// "Row 12,410 added at the end."
export function rowAddedText(row) {
  return `Row ${count(row)} added at the end.`;
}

// The page of the table in file order that shows row `row`.
export function pageOfRow(row, pageSize) {
  return Math.max(1, Math.ceil(row / pageSize));
}

// The New row form: where cells may be edited, when opened. What it says under its fields (a
// blank row refused, the row just added) and, to a viewer browsing alone whose page does not
// show that row, a button to go to it (`go`: null when there is none).
export function newRowForm(state, page) {
  const { newRow } = state;
  const editable = Boolean(page) && mayEditCells(state, page);
  const { added } = newRow;
  let said = "";
  if (newRow.blank) said = BLANK_ROW;
  else if (added) said = rowAddedText(added.row);
  let go = null;
  // rows deleted since would have moved it: while the table holds as many, its number stands
  const known = added && editable && page.version >= added.version && page.total_number >= added.row;
  if (known && !newRow.blank && !state.follow && !rowNumbers(page).includes(added.row)) {
    go = { row: added.row, text: `Go to row ${count(added.row)}` };
  }
  return {
    shown: editable && newRow.open,
    columns: page ? page.columns : [],
    addDisabled: isOffline(state) || newRow.adding,
    addText: newRow.adding ? "Adding…" : "Add",
    said,
    go,
  };
}

// A row not added (an error code), or not sent (the network: no code). What was typed stays.
export function notAdded(code, message, limits = null) {
  if (code === "empty_file") return "A row that repeats the column names reads as the header row: it was not added.";
  return code ? explain(code, message, limits) : "The row could not be sent: is the connection lost? It is still in the form.";
}

export function emptySelection() {
  return { rows: new Set(), anchor: null, base: new Set() };
}

// A row's number clicked on `page`: the row is selected, or unselected if it was, and is the
// anchor of a range; with Shift (`range`), every row shown from the anchor to it is selected,
// on top of those selected before the range began (a second Shift+click changes the range).
export function selectRows(selection, page, row, range = false) {
  const numbers = rowNumbers(page);
  const at = numbers.indexOf(row);
  if (at < 0) return selection;
  const from = selection.anchor === null ? -1 : numbers.indexOf(selection.anchor);
  if (range && from >= 0) {
    const shown = numbers.slice(Math.min(from, at), Math.max(from, at) + 1);
    return { rows: new Set([...selection.base, ...shown]), anchor: selection.anchor, base: selection.base };
  }
  const rows = new Set(selection.rows);
  if (rows.has(row)) rows.delete(row);
  else rows.add(row);
  return { rows, anchor: row, base: rows };
}

// The selection as the next page shows it. Rows are named by their number: only while that
// number names the same row do they stay selected, so another page, view, columns or version
// but the next, or fewer rows (deleted above, the rows after moved up), drop it; and a row whose
// cells are not the same as before is dropped (a version uploaded anew may number other rows).
export function keptSelection(selection, before, page) {
  if (!selection.rows.size && selection.anchor === null) return selection;
  const empty = emptySelection();
  if (!before || !page || !numberedAsFile(before) || !numberedAsFile(page)) return empty;
  if (before.id !== page.id || before.page_no !== page.page_no || before.has_header !== page.has_header) return empty;
  if (JSON.stringify(before.columns) !== JSON.stringify(page.columns)) return empty;
  if (!sameView(before.view || PLAIN, page.view || PLAIN)) return empty;
  if (page.version !== before.version && (page.version !== before.version + 1 || page.total_number < before.total_number)) {
    return empty;
  }
  const was = new Map(rowNumbers(before).map((row, r) => [row, before.data[r]]));
  const now = new Map(rowNumbers(page).map((row, r) => [row, page.data[r]]));
  const same = (row) => was.has(row) && now.has(row) && JSON.stringify(was.get(row)) === JSON.stringify(now.get(row));
  const kept = (rows) => new Set([...rows].filter(same));
  return {
    rows: kept(selection.rows),
    anchor: selection.anchor !== null && same(selection.anchor) ? selection.anchor : null,
    base: kept(selection.base),
  };
}

// The rows a page shows selected (`rows`, in the page's order), and whether their delete is on
// its way: none where rows may not be changed.
export function selectedRows(state, page) {
  if (!page || !mayEditCells(state, page)) return { rows: [], deleting: false };
  return { rows: rowNumbers(page).filter((row) => state.selection.rows.has(row)), deleting: state.deleting };
}

// The bar over the table, for those who may change rows: Add row, and the rows selected with
// what to do with them.
export function rowsBar(state, page) {
  const editable = Boolean(page) && mayEditCells(state, page);
  const offline = isOffline(state);
  const n = selectedRows(state, page).rows.length;
  const rows = plural(n, "row", "rows");
  return {
    hidden: !editable,
    addOpen: state.newRow.open,
    addDisabled: offline,
    selected: n ? `${rows} selected` : "Click a row’s number to select it, Shift+click for a range",
    deleteHidden: n === 0,
    deleteText: state.deleting ? `Deleting ${rows}…` : `Delete ${rows}`,
    deleteDisabled: offline || state.deleting,
    clearHidden: n === 0,
  };
}

// What a delete's answer says: rows someone else deleted since the version shown are gone
// already, and not counted (`deleted`).
export function rowsDeletedText(asked, deleted) {
  if (deleted === asked) return `${plural(deleted, "row", "rows")} deleted.`;
  const gone = asked === 1 ? "That row was" : "Those rows were";
  if (deleted === 0) return `${gone} deleted already, by someone else.`;
  const others = asked - deleted;
  return `${plural(deleted, "row", "rows")} deleted (${count(others)} ${others === 1 ? "was" : "were"} deleted already, by someone else).`;
}

// A delete refused (an error code) or never answered (the network: no code).
export function notDeleted(code, message, limits = null) {
  return code ? explain(code, message, limits) : "The rows could not be deleted: is the connection lost?";
}
