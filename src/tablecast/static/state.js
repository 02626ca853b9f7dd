// What this tab knows: the one place the app's state lives. Other modules read `state` and
// change it only through the functions below, so every change has a name to search for.
// Nothing here touches the page or the network (the unit tests import it under Node).

export const state = {
  documentId: null, // the document this page is for (null: a new table, until its upload)
  missing: false, // the server said this document does not exist
  connectionState: "idle", // the Connection's: idle, connecting, open, reconnecting, ...
  url: null, // the view link, from hello
  edit: false, // this viewer may upload and turn the shared page
  editKey: null, // the document's edit key, when this browser has it
  limits: null,
  page: null, // the last live page shown
  follow: true,
  ownPage: 1, // the page this viewer is on while browsing alone
  upload: null, // this viewer's upload in progress ({ cancel } while it waits to start)
  others: new Map(), // other viewers' uploads in progress, by id
  types: new Map(), // column types by "version:header", as the server infers them
  old: null, // an old version being looked at: { version, view, page }
  name: "Guest", // who changed the shared view, as the others see it
  access: settled(), // settles once this connection's access is known (its auth answered)
  refused: false, // the edit key this browser holds was refused
  pending: null, // a page or view asked for and not answered yet (see busy.js)
  asUploaded: new Map(), // by version: whether its upload had a header row
  viewers: null, // how many watch this document, from presence
  // The versions panel's list: versions newest first, from the newest down to the oldest
  // page fetched; `next` is the `before` of the page after it (null: version 1 is listed).
  listing: null,
  // The column profiles of the table shown: `key` says for which version and rows they are
  // (see model.profileKey), `asked` for which the last were asked, `ranges` the first column
  // of each range of columns asked for them (a wide table's come a range at a time, as they
  // are scrolled to); `columns` is null until they come (or when they could not be had).
  profiles: { asked: null, key: null, columns: null, total: null, ranges: new Set() },
  // The column menu open: which column, how many facet values it asks for, and the last
  // answer (`values`, for the rows of `key`); null while closed.
  menu: null,
  // The cell editor open: its cell (`row` numbered as version `version` numbers rows: the
  // page's when it opened, which its save names), and the text it opened with (`was`); null
  // while closed. What is typed stays in its field (editing.js), as a filter's does.
  editor: null,
  // One's own values on their way, by "row:column": { row, column, value, version, made }
  // (`made`: the version the save made, once answered). Shown, marked, until its page comes.
  saving: new Map(),
  // One's own edits saved, watched a minute for someone overwriting them (model.overwrittenEdits).
  mine: [],
  // What one's own changes have to say (a save overwrote someone else's value, rows deleted):
  // [{ version, text }], each said once the version it made is shown (its page's own notice
  // would hide it otherwise).
  notices: [],
  // The cells a new version changed, marked for a few seconds: "row:column" → since when
  // (performance.now()).
  highlights: new Map(),
  // The New row form (editors): whether it is open, a row on its way (`adding`), the last row
  // added ({ row, version }: its number in the version it made), and whether a blank row was
  // refused (said under the fields until the next try).
  newRow: { open: false, adding: false, added: null, blank: false },
  // The rows selected on the live page, by number as the page numbers them (model.selectRows):
  // `anchor`, the row a Shift+click's range goes from; `base`, those selected before that range.
  selection: { rows: new Set(), anchor: null, base: new Set() },
  deleting: false, // the selected rows' delete is on its way
  // The row "Go to row" went to, and its page: marked when that page comes.
  sought: null,
  // Another sheet of the workbook asked for (the sheet switcher): its name, and the version
  // its reading made (`made`, once answered); null once that version is shown, or refused.
  sheetAsked: null,
};

// A promise with its resolve at hand, and whether it has settled.
function settled() {
  const access = deferred();
  access.resolve();
  return access;
}

function deferred() {
  const value = { settled: false };
  value.promise = new Promise((resolve) => {
    value.resolve = () => {
      value.settled = true;
      resolve();
    };
  });
  return value;
}

// The page as the server served it: which document, whether it exists, who this is.
export function started({ documentId = null, missing = false, name = "Guest", editKey = null } = {}) {
  state.documentId = documentId || null;
  state.missing = missing;
  state.name = name;
  state.editKey = editKey;
  if (editKey) state.access = deferred(); // checked once the connection is open
}

export function connectionChanged(connectionState) {
  state.connectionState = connectionState;
  if (connectionState !== "open") {
    state.others.clear();
    // access is known again once the next hello (and the answer to its auth) says so
    accessUnknown();
  }
}

// Until the answer to an `auth`: a file chosen meanwhile waits for it.
export function accessUnknown() {
  if (state.access.settled) state.access = deferred();
}

export function accessKnown() {
  state.access.resolve();
}

export function helloHeard(hello) {
  state.documentId = hello.id; // a new table's, from its first hello
  state.url = hello.url;
  state.limits = hello.limits;
  state.edit = hello.edit;
  if (hello.edit_key) state.editKey = hello.edit_key; // we just created this document
}

export function accessGranted(edit) {
  state.edit = edit;
  state.refused = false;
  accessKnown();
}

export function accessRefused(refused) {
  state.refused = refused;
  accessKnown();
}

export function editKeyForgotten() {
  state.editKey = null;
}

export function pageArrived(page) {
  if (page.view && page.view.header === null) state.asUploaded.set(page.version, page.has_header);
  // a view overriding a type reads its page with it: those are not the version's own types
  const overridden = Boolean(page.view && Object.keys(page.view.types || {}).length);
  if (page.types && !overridden) state.types.set(`${page.version}:${page.has_header}`, page.types);
}

export function livePageShown(page) {
  state.page = page;
  if (!state.follow) state.ownPage = page.page_no;
}

export function typesArrived({ version, header, types }) {
  state.types.set(`${version}:${header}`, types);
}

export function followChanged(follow) {
  state.follow = follow;
  if (!follow && state.page) state.ownPage = state.page.page_no;
}

// Browsing the whole table alone starts from its first page.
export function browsingAlone() {
  state.follow = false;
  state.ownPage = 1;
}

export function presenceHeard(viewers) {
  state.viewers = viewers;
}

export function othersUploading({ upload, state: uploadState, ...progress }) {
  if (uploadState === "receiving") state.others.set(upload, { upload, state: uploadState, ...progress });
  else state.others.delete(upload);
}

export function uploadStarted(upload) {
  state.upload = upload;
}

export function uploadEnded() {
  state.upload = null;
}

export function asked(pending) {
  state.pending = pending;
}

// The request still waited for is slow: from now on it is said (and so is its successor).
export function saidSlow(pending) {
  if (state.pending !== pending) return false;
  pending.shown = true;
  return true;
}

// The request answered (or given up); an older one being answered changes nothing.
export function answered(pending = state.pending) {
  if (!pending || state.pending !== pending) return false;
  state.pending = null;
  return true;
}

export function oldVersionOpened(version, view) {
  state.old = { version, view, page: null };
}

export function oldViewChanged(view) {
  state.old.view = view;
}

export function oldPageArrived(old, page) {
  old.page = page;
}

export function backToLive() {
  state.old = null;
}

// Versions listed afresh: the newest page.
export function versionsListed(page) {
  state.listing = page;
}

// The page below the oldest listed, added under it.
export function olderVersionsListed(page) {
  const { listing } = state;
  const oldest = listing.versions.at(-1).version;
  listing.versions.push(...page.versions.filter((version) => version.version < oldest));
  listing.next = page.next;
  listing.current = page.current;
}

// New versions on top, and which is current now; the older pages listed stay listed (a
// version never changes once made). More new ones than a page: the newest page afresh.
export function newerVersionsListed(page) {
  const { listing } = state;
  const newest = listing && listing.versions.length ? listing.versions[0].version : null;
  const reaches = page.next === null || (newest !== null && page.next <= newest + 1);
  if (!listing || newest === null || !reaches) {
    state.listing = page;
    return;
  }
  listing.versions.unshift(...page.versions.filter((version) => version.version > newest));
  listing.current = page.current;
}

// The page shown: an old version's while one is open, else the live one.
export function shownPage() {
  return state.old ? state.old.page : state.page;
}

// Profiles asked for the rows `key` names, from column `from` on: the strips shown stay until
// the first range comes.
export function profilesAsked(key, from = 0) {
  const ranges = state.profiles.asked === key ? state.profiles.ranges : new Set();
  state.profiles = { ...state.profiles, asked: key, ranges: new Set([...ranges, from]) };
}

// Only answers for the rows asked for last are kept: in place of those of other rows, beside
// the other ranges' of the same rows (in whichever order they come). A range that could not
// be had is asked for again when it is next in sight.
export function profilesArrived(key, answer, from = 0) {
  const profiles = state.profiles;
  if (profiles.asked !== key) return false;
  const kept = profiles.key === key && profiles.columns ? profiles.columns : [];
  let columns = kept.length ? kept : null;
  const ranges = new Set(profiles.ranges);
  if (answer) {
    const fresh = new Set(answer.columns.map((profile) => profile.column));
    columns = [...kept.filter((profile) => !fresh.has(profile.column)), ...answer.columns];
  } else {
    ranges.delete(from);
  }
  const total = answer ? answer.total_number : profiles.total;
  state.profiles = { ...profiles, key, columns, total, ranges };
  return true;
}

export const FACET_VALUES = 50; // the server's default
export const MOST_FACET_VALUES = 1000; // the server's limit

export function menuOpened(column) {
  // `asked`: the rows and limit of the values last asked for, so that each is asked once
  state.menu = { column, limit: FACET_VALUES, asked: null, key: null, values: null, failed: false };
}

export function facetValuesAsked(menu, asked) {
  menu.asked = asked;
}

export function menuClosed() {
  state.menu = null;
}

// More of a column's values asked for: four times as many, up to the server's limit.
export function moreFacetValues() {
  state.menu.limit = Math.min(MOST_FACET_VALUES, state.menu.limit * 4);
}

// A column's values (`answer`, null when they could not be had) for the rows of `key`, kept if
// that menu is still open on the column asked about.
export function facetValuesArrived(menu, key, answer) {
  if (state.menu !== menu) return false;
  menu.key = key;
  menu.values = answer;
  menu.failed = answer === null;
  return true;
}

// Cells edited in place (app.js)

export function editorOpened({ row, column, was, version }) {
  state.editor = { row, column, was, version };
}

export function editorClosed() {
  state.editor = null;
}

// A value sent: shown at once, marked, until the version it makes is shown. Returns the entry.
export function cellSaving({ row, column, value, version }) {
  const cell = { row, column, value, version, made: null };
  state.saving.set(`${row}:${column}`, cell);
  return cell;
}

// Its save answered with the version it made. Returns whether the page shown is that version
// (or a later one) already: the cell shows the page's text again.
export function cellSaved(cell, made) {
  cell.made = made;
  if (!state.page || state.page.version === null || state.page.version < made) return false;
  return forgetSaving(cell);
}

// Refused, or never answered: the cell shows the page's text again. Returns whether it was
// still the cell's latest value sent.
export function cellNotSaved(cell) {
  return forgetSaving(cell);
}

function forgetSaving(cell) {
  const key = `${cell.row}:${cell.column}`;
  if (state.saving.get(key) !== cell) return false;
  state.saving.delete(key);
  return true;
}

// A page shown: the values whose versions it is (or follows) are the page's own now.
export function savedCellsShown(page) {
  if (page.version === null) return;
  for (const cell of [...state.saving.values()]) {
    if (cell.made !== null && page.version >= cell.made) forgetSaving(cell);
  }
}

// One's edit saved, watched for a minute; an earlier edit of the same cell is forgotten.
export function editRemembered(edit) {
  state.mine = [...state.mine.filter((e) => e.row !== edit.row || e.column !== edit.column), edit];
}

export function editsWatched(kept) {
  state.mine = kept;
}

// Something one's change has to say once the version it made is shown.
export function noticeHeard(version, text) {
  state.notices = [...state.notices, { version, text }];
}

// The notices whose versions a page of `version` shows (or follows), in the order they came:
// said now, so forgotten.
export function noticesDue(version) {
  if (version === null || version === undefined) return [];
  const due = state.notices.filter((notice) => notice.version <= version);
  state.notices = state.notices.filter((notice) => notice.version > version);
  return due.map((notice) => notice.text);
}

// Cells a new version changed, marked from `at` (those marked before go on fading).
export function cellsChanged(keys, at) {
  for (const key of keys) state.highlights.set(key, at);
}

// A new version that cannot be compared cell by cell: the marks would be on other rows.
export function highlightsCleared() {
  state.highlights = new Map();
}

// The marks made before `before` are over.
export function highlightsFaded(before) {
  for (const [key, at] of [...state.highlights]) if (at <= before) state.highlights.delete(key);
}

// Rows added and deleted (app.js)

export function newRowOpened() {
  state.newRow = { ...state.newRow, open: true, blank: false };
}

// Closed, what it holds kept in its fields for next time.
export function newRowClosed() {
  state.newRow = { ...state.newRow, open: false, blank: false };
}

export function blankRowRefused() {
  state.newRow = { ...state.newRow, blank: true };
}

export function rowAdding() {
  state.newRow = { ...state.newRow, adding: true, blank: false };
}

// `added`: { row, version }, the row's number in the version its adding made.
export function rowAdded(added) {
  state.newRow = { ...state.newRow, adding: false, added };
}

export function rowNotAdded() {
  state.newRow = { ...state.newRow, adding: false };
}

// selection: model.selectRows, model.keptSelection
export function rowsSelected(selection) {
  state.selection = selection;
}

export function selectionCleared() {
  state.selection = { rows: new Set(), anchor: null, base: new Set() };
}

export function rowsDeleting() {
  state.deleting = true;
}

// Deleted: the selection is gone with them.
export function rowsDeleted() {
  state.deleting = false;
  selectionCleared();
}

// Refused or never answered: the rows stay selected, to try again.
export function rowsNotDeleted() {
  state.deleting = false;
}

// sought: { row, page }, or null once its page came.
export function rowSought(sought) {
  state.sought = sought;
}

// Another sheet of the workbook (app.js)

// Asked for: said ("Reading sheet NAME…") until the version it makes is shown. Returns the entry.
export function sheetAsked(sheet) {
  state.sheetAsked = { sheet, made: null };
  return state.sheetAsked;
}

// Read, as version `made`. Returns whether that changed what is said: the page shown is that
// version (or a later one) already, so the switcher shows the page's sheet again.
export function sheetRead(asked, made) {
  if (state.sheetAsked !== asked) return false;
  asked.made = made;
  if (!state.page || state.page.version === null || state.page.version < made) return false;
  state.sheetAsked = null;
  return true;
}

// Refused, or never answered: the switcher shows the page's sheet again.
export function sheetNotRead(asked) {
  if (state.sheetAsked === asked) state.sheetAsked = null;
}

// A live page shown: the version the sheet asked for made (or a later one) is here.
export function sheetShown(page) {
  const asked = state.sheetAsked;
  if (asked && asked.made !== null && page.version !== null && page.version >= asked.made) state.sheetAsked = null;
}
