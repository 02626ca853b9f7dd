// The view model (src/tablecast/static/model.js): what a person reads and may do, from the
// app's state, without a browser. Run by `node --test tests/static/` (tests/test_static.py).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as model from "../../src/tablecast/static/model.js";
import { PLAIN } from "../../src/tablecast/static/views.js";

const ID = "0b8f4e3a-2f5c-4c1e-9d7a-1a2b3c4d5e6f";

// The app's state as state.js starts it, with what a test says.
function makeState(fields = {}) {
  return {
    documentId: ID,
    missing: false,
    connectionState: "open",
    url: `http://example.test/parser/share/${ID}`,
    edit: false,
    editKey: null,
    limits: { max_upload_bytes: 100_000_000 },
    page: null,
    follow: true,
    ownPage: 1,
    upload: null,
    others: new Map(),
    types: new Map(),
    old: null,
    name: "Guest 1234",
    access: { settled: true },
    refused: false,
    pending: null,
    asUploaded: new Map(),
    ...fields,
  };
}

// A page message as the server sends it (docs/protocol.md).
function makePage(fields = {}) {
  return {
    type: "page",
    id: ID,
    version: 3,
    filename: "flights.csv",
    page_no: 2,
    page_count: 40,
    first_row: 51,
    total_number: 2000,
    columns: ["carrier", "delay"],
    data: Array.from({ length: 50 }, (_, i) => ["AA", String(i)]),
    has_header: true,
    ragged_rows: 0,
    view: { ...PLAIN },
    shared: true,
    cause: "turn",
    ...fields,
  };
}

describe("the page bar", () => {
  test("a middle page leads both ways", () => {
    const bar = model.pager(makePage({ page_no: 2, page_count: 40 }), false);
    assert.deepEqual(bar, {
      backDisabled: false,
      onDisabled: false,
      fieldDisabled: false,
      pageNo: 2,
      pageCount: 40,
      pages: "40",
    });
  });

  test("the first page leads only on, the last only back", () => {
    assert.equal(model.pager(makePage({ page_no: 1 }), false).backDisabled, true);
    assert.equal(model.pager(makePage({ page_no: 1 }), false).onDisabled, false);
    assert.equal(model.pager(makePage({ page_no: 40 }), false).onDisabled, true);
    assert.equal(model.pager(makePage({ page_no: 40 }), false).backDisabled, false);
  });

  test("a table of one page leads nowhere", () => {
    const bar = model.pager(makePage({ page_no: 1, page_count: 1 }), false);
    assert.equal(bar.backDisabled && bar.onDisabled, true);
  });

  test("offline, nothing in it can be used", () => {
    const bar = model.pager(makePage({ page_no: 2 }), true);
    assert.deepEqual([bar.backDisabled, bar.onDisabled, bar.fieldDisabled], [true, true, true]);
  });

  test("the count of pages reads with separators", () => {
    assert.equal(model.pager(makePage({ page_count: 12408 }), false).pages, "12,408");
  });

  test("a turn is kept within the table, and the page shown is no turn", () => {
    const page = makePage({ page_no: 2, page_count: 40 });
    assert.equal(model.turnTarget(page, 0), 1);
    assert.equal(model.turnTarget(page, -5), 1);
    assert.equal(model.turnTarget(page, 41), 40);
    assert.equal(model.turnTarget(page, 10_000), 40);
    assert.equal(model.turnTarget(page, 3), 3);
    assert.equal(model.turnTarget(page, 2), null);
    assert.equal(model.turnTarget(makePage({ page_no: 40 }), 99), null);
  });

  test("what a slow page turn says", () => {
    assert.equal(model.loadingPage(1200), "Loading page 1,200…");
  });
});

describe("the rows shown", () => {
  test("a range of rows of the whole table", () => {
    assert.equal(model.rangeText(makePage()), "Rows 51–100 of 2,000");
  });

  test("a search's rows are the matching ones", () => {
    const page = makePage({ first_row: 1, data: [["a"]], total_number: 1, view: { ...PLAIN, q: "ada" } });
    assert.equal(model.rangeText(page), "Rows 1–1 of 1 matching");
    const filtered = makePage({ view: { ...PLAIN, filters: { 0: "AA" } } });
    assert.match(model.rangeText(filtered), / matching$/);
  });

  test("no rows, and no matching rows", () => {
    assert.equal(model.rangeText(makePage({ total_number: 0, data: [] })), "No rows");
    const none = makePage({ total_number: 0, data: [], view: { ...PLAIN, q: "zzz" } });
    assert.equal(model.rangeText(none), "No matching rows");
  });

  test("a sort alone keeps every row: nothing is said to match", () => {
    assert.equal(model.rangeText(makePage({ view: { ...PLAIN, sort: 1 } })), "Rows 51–100 of 2,000");
  });

  test("ragged rows are counted against the header, or the first row without one", () => {
    assert.deepEqual(model.raggedNote(makePage({ ragged_rows: 0 })).hidden, true);
    assert.deepEqual(model.raggedNote(makePage({ ragged_rows: 1 })), {
      hidden: false,
      text: "1 row has more or fewer cells than the header",
    });
    assert.equal(
      model.raggedNote(makePage({ ragged_rows: 1500, has_header: false })).text,
      "1,500 rows have more or fewer cells than the first row",
    );
    // a view switching the header off says so against the first row
    const switched = makePage({ ragged_rows: 2, view: { ...PLAIN, header: false } });
    assert.equal(model.raggedNote(switched).text, "2 rows have more or fewer cells than the first row");
  });

  test("an old store's uncounted rows (null) are no ragged rows", () => {
    assert.equal(model.raggedNote(makePage({ ragged_rows: null })).hidden, true);
  });
});

describe("the connection's banners", () => {
  test("every state of the connection has its words", () => {
    const said = Object.fromEntries(
      ["idle", "connecting", "open", "reconnecting", "closed", "missing", "full"].map((s) => [s, model.statusText(s)]),
    );
    assert.deepEqual(said, {
      idle: "Offline",
      connecting: "Connecting…",
      open: "Live",
      reconnecting: "Reconnecting…",
      closed: "Offline",
      missing: "Not found",
      full: "Server full",
    });
  });

  test("a wait before reconnecting is counted down, never below one second", () => {
    assert.equal(model.statusText("reconnecting", 14_600), "Reconnecting in 15 s…");
    assert.equal(model.statusText("reconnecting", 2_400), "Reconnecting in 2 s…");
    assert.equal(model.statusText("reconnecting", 100), "Reconnecting in 1 s…");
    assert.equal(model.statusText("reconnecting", -300), "Reconnecting in 1 s…");
  });

  test("only a lost connection is offline: the banner shows and drops wait", () => {
    for (const connectionState of ["idle", "connecting", "open", "closed", "missing", "full"]) {
      assert.deepEqual(model.online(makeState({ connectionState })), { offline: false, dropText: "Drop to upload" });
    }
    assert.deepEqual(model.online(makeState({ connectionState: "reconnecting" })), {
      offline: true,
      dropText: "Drop to upload once the connection is back",
    });
  });
});

describe("errors in plain words", () => {
  test("every code the server sends has a sentence of its own", () => {
    for (const [code, text] of Object.entries(model.ERRORS)) {
      assert.equal(model.explain(code, "server's words"), text);
      assert.match(text, /[.!?]$/, code);
    }
    assert.equal(model.explain("not_text"), model.ERRORS.not_text);
    assert.match(model.explain("wrong_edit_key"), /You can still view it/);
    assert.match(model.explain("storage_full"), /no room/);
  });

  test("too large says the limit when it is known", () => {
    assert.equal(model.explain("too_large", null, { max_upload_bytes: 50_000_000 }), "This file is larger than the 50 MB limit.");
    assert.equal(model.explain("too_large"), "This file is larger than the server accepts.");
    const sent = "the file is larger than the limit of 5 bytes";
    assert.equal(model.explain("too_large", sent), "This file is larger than the server accepts.");
    // too large to read, not to send: the server's own words
    const read = "the file needs more than 2048 MiB of memory to read";
    assert.equal(
      model.explain("too_large", read, { max_upload_bytes: 9 }),
      "The file needs more than 2048 MiB of memory to read",
    );
  });

  test("a code not known here says the server's words, or that something went wrong", () => {
    assert.equal(model.explain("brand_new", "The server said this"), "The server said this");
    assert.equal(model.explain("brand_new"), "Something went wrong.");
  });

  test("an alert is sentences, and says the table is unchanged when there is one", () => {
    assert.equal(model.alertText("bad delimiter", false), "bad delimiter.");
    assert.equal(model.alertText("Try again.", true), "Try again. The table is unchanged.");
    assert.equal(model.alertText("Really?", false), "Really?");
    assert.equal(model.hasVersion(makeState({ page: makePage() })), true);
    assert.equal(model.hasVersion(makeState({ page: makePage({ version: null }) })), false);
  });
});

describe("who may do what", () => {
  test("a view link browses only", () => {
    const state = makeState({ page: makePage() });
    assert.deepEqual(model.access(state), { readOnly: true, choose: false, copyLink: true, copyEditLink: false });
  });

  test("an edit link uploads and copies both links", () => {
    const state = makeState({ page: makePage(), edit: true, editKey: "k" });
    assert.deepEqual(model.access(state), { readOnly: false, choose: true, copyLink: true, copyEditLink: true });
  });

  test("an edit key being checked is not yet a view link", () => {
    const state = makeState({ page: makePage(), editKey: "k", access: { settled: false } });
    assert.equal(model.access(state).readOnly, false);
    assert.equal(model.access(state).choose, true);
  });

  test("no link is offered before there is a table to share", () => {
    const state = makeState({ page: makePage({ version: null }), edit: true, editKey: "k" });
    assert.equal(model.access(state).copyLink, false);
    assert.equal(model.access(state).copyEditLink, false);
  });

  test("a new table takes files before its hello; a share link only with a key", () => {
    assert.equal(model.mayUpload(makeState({ url: null, documentId: null })), true);
    assert.equal(model.mayUpload(makeState({ url: null })), false);
    assert.equal(model.mayUpload(makeState({ url: null, editKey: "k" })), true);
    assert.equal(model.mayUpload(makeState({ missing: true, documentId: null, url: null })), false);
  });

  test("which screen shows", () => {
    assert.equal(model.screen(makeState(), makePage()), "document");
    assert.equal(model.screen(makeState({ edit: true }), makePage({ version: null })), "empty");
    assert.equal(model.screen(makeState(), makePage({ version: null })), "waiting");
    assert.equal(model.screen(makeState({ missing: true }), makePage({ version: null })), "missing");
  });
});

describe("following the group, or browsing alone", () => {
  test("the follow switch and the alone note", () => {
    assert.deepEqual(model.follow(makeState({ follow: true })), { checked: true, alone: false });
    assert.deepEqual(model.follow(makeState({ follow: false })), { checked: false, alone: true });
  });

  test("the group's view is said over the table, with who set it", () => {
    const view = { ...PLAIN, sort: 1, order: "desc", by: "Guest 42" };
    const bar = model.viewBar(makeState(), makePage({ view }));
    assert.equal(bar.group, "Following the group's view: sorted by delay ▼ — set by Guest 42.");
    assert.equal(bar.note, "");
    assert.equal(bar.clearHidden, true); // a view link browses alone instead
    const mine = model.viewBar(makeState({ edit: true }), makePage({ view: { ...view, by: "Guest 1234" } }));
    assert.equal(mine.group, "Following the group's view: sorted by delay ▼ — set by you.");
    assert.deepEqual([mine.clearHidden, mine.clearText], [false, "Clear for everyone"]);
  });

  test("one's own view is said in the view bar, without a name", () => {
    const view = { ...PLAIN, q: "ada", filters: { 0: "AA" } };
    const bar = model.viewBar(makeState({ follow: false }), makePage({ view, shared: false }));
    assert.equal(bar.group, null);
    assert.equal(bar.note, "Your view: matching “ada” · carrier: “AA”");
    assert.deepEqual([bar.clearHidden, bar.clearText], [false, "Clear"]);
    assert.equal(bar.search, "ada");
  });

  test("the whole table as uploaded is no view to speak of", () => {
    const state = makeState({ asUploaded: new Map([[3, true]]) });
    const bar = model.viewBar(state, makePage({ view: { ...PLAIN, header: true } }));
    assert.deepEqual([bar.note, bar.group, bar.clearHidden], ["", null, true]);
  });

  test("presence", () => {
    assert.deepEqual(model.presence(1, "Guest 7"), { viewers: "Only you", me: "you are Guest 7" });
    assert.equal(model.presence(1200, "Guest 7").viewers, "1,200 viewers");
  });

  test("what a view change is doing", () => {
    const columns = ["carrier", "delay"];
    assert.equal(model.describeChange(PLAIN, { ...PLAIN, sort: 1 }, columns), "Sorting by delay ▲…");
    assert.equal(model.describeChange({ ...PLAIN, sort: 1 }, { ...PLAIN, sort: 1, order: "desc" }, columns), "Sorting by delay ▼…");
    assert.equal(model.describeChange({ ...PLAIN, sort: 1 }, PLAIN, columns), "Back to file order…");
    assert.equal(model.describeChange(PLAIN, { ...PLAIN, q: "ada" }, columns), "Searching for “ada”…");
    assert.equal(model.describeChange({ ...PLAIN, q: "ada" }, PLAIN, columns), "Showing every row…");
    assert.equal(model.describeChange(PLAIN, { ...PLAIN, filters: { 0: "A" } }, columns), "Filtering carrier…");
    assert.equal(model.describeChange(PLAIN, { ...PLAIN, header: false }, columns), "Switching the header row…");
    assert.equal(model.describeChange(PLAIN, PLAIN, columns), "Updating the view…");
  });

  test("a slow answer is said only once it is slow", () => {
    assert.deepEqual(model.busy(null), { shown: false, text: "" });
    assert.deepEqual(model.busy({ text: "Sorting…", shown: false }), { shown: false, text: "" });
    assert.deepEqual(model.busy({ text: "Sorting…", shown: true }), { shown: true, text: "Sorting…" });
  });
});

describe("uploads", () => {
  test("progress as acknowledgements come", () => {
    assert.deepEqual(model.uploadProgress({ acked: 2_500_000, size: 10_000_000, rate: 1_250_000 }), {
      percent: 25,
      text: "2.5 MB of 10 MB · 25% · 1.3 MB/s",
    });
    assert.deepEqual(model.uploadProgress({ acked: 10_000_000, size: 10_000_000, rate: 1 }), {
      percent: 100,
      text: "10 MB · finishing…",
    });
    assert.equal(model.uploadProgress({ acked: 0, size: 0, rate: 0 }).percent, 100);
  });

  test("before the first chunk", () => {
    assert.equal(model.uploadStarting(2048), "Starting… 2.0 kB");
    assert.equal(model.uploadStarting(2048, { offline: true }), "Waiting for the connection: the upload starts when it is back");
    assert.equal(model.uploadStarting(2048, { checking: true }), "Checking your edit link…");
  });

  test("files not sent say why", () => {
    assert.equal(
      model.uploadBusy("b.csv"),
      "b.csv was not uploaded: another file is on its way. Choose it again when that one is done.",
    );
    assert.match(model.uploadRefused("b.csv", true), /does not open this table, so b\.csv was not uploaded/);
    assert.equal(model.uploadRefused("b.csv", false), model.ERRORS.edit_key_required);
  });

  test("someone else's upload: the latest, in percent or in bytes", () => {
    assert.equal(model.othersUpload(new Map()), null);
    const others = new Map([
      ["u1", { filename: "a.csv", size: 1000, received: 10 }],
      ["u2", { filename: "b.csv", size: 1000, received: 333 }],
    ]);
    assert.deepEqual(model.othersUpload(others), { text: "Someone is uploading b.csv: 33%", percent: 33 });
    const unsized = new Map([["u3", { filename: null, size: null, received: 4_200_000 }]]);
    assert.deepEqual(model.othersUpload(unsized), { text: "Someone is uploading a file: 4.2 MB", percent: null });
  });

  test("a new version is announced with its rows", () => {
    assert.equal(model.newVersionNotice(makePage({ version: 4, total_number: 1 })), "New version 4 — 1 row");
    assert.equal(model.newVersionNotice(makePage({ version: 5, total_number: 12000 })), "New version 5 — 12,000 rows");
  });
});

describe("versions", () => {
  const listing = {
    current: 3,
    next: 1,
    versions: [3, 2].map((version) => ({
      version,
      created_at: "2026-11-30T12:00:00Z",
      filename: version === 2 ? null : "flights.csv",
      total_number: version * 1000,
      size: 20_000,
    })),
  };

  test("each version: its number, file, rows and size; the current one marked", () => {
    const { items, older } = model.versionItems(listing, { documentId: ID, canRestore: false });
    assert.equal(older, true);
    assert.deepEqual(
      items.map(({ version, title, current, restore }) => ({ version, title, current, restore })),
      [
        { version: 3, title: "Version 3", current: true, restore: false },
        { version: 2, title: "Version 2", current: false, restore: false },
      ],
    );
    assert.match(items[0].detail, / · flights\.csv · 3,000 rows · 20 kB$/);
    assert.match(items[1].detail, / · untitled · 2,000 rows · 20 kB$/);
    assert.equal(items[1].download, `/parser/api/docs/${ID}/download?version=2&format=tsv`);
  });

  test("editors may restore any version but the current one", () => {
    const { items } = model.versionItems(listing, { documentId: ID, canRestore: true });
    assert.deepEqual(items.map((item) => item.restore), [false, true]);
  });

  test("every version but the first offers its changes", () => {
    const first = { ...listing.versions[1], version: 1 };
    const { items } = model.versionItems({ ...listing, versions: [...listing.versions, first] }, { documentId: ID, canRestore: false });
    assert.deepEqual(items.map((item) => item.changes), [true, true, false]);
  });

  test("versions made close together are one entry, opened on them", () => {
    const at = (minutes) => new Date(Date.UTC(2026, 10, 30, 12, minutes)).toISOString();
    // version 9 current; 8-5 a minute or less apart; 4 an hour before; 3-2 a pair; 1 alone
    const minutes = { 9: 300, 8: 200, 7: 199.5, 6: 199, 5: 198, 4: 100, 3: 50, 2: 49.5, 1: 0 };
    const versions = Object.entries(minutes)
      .map(([version, minute]) => ({ version: Number(version), created_at: at(minute), filename: "log.tsv", total_number: 10, size: 100 }))
      .sort((a, b) => b.version - a.version);
    const { items } = model.versionItems({ current: 9, next: null, versions }, { documentId: ID, canRestore: true });
    assert.deepEqual(
      items.map((item) => (item.group ? item.items.map((one) => one.version) : item.version)),
      [9, [8, 7, 6, 5], 4, 3, 2, 1],
    );
    assert.equal(items[1].title, "Versions 5–8");
    assert.match(items[1].detail, /^ 4 versions, .+ to .+$/);
    assert.equal(items[1].items[0].restore, true);
  });

  test("nothing older once version 1 is listed", () => {
    assert.equal(model.versionItems({ ...listing, next: null }, { documentId: ID, canRestore: false }).older, false);
  });

  test("an old version is read-only: named in the tab, its banner, downloads of it", () => {
    const page = makePage({ version: 2, shared: undefined, view: { ...PLAIN, sort: 0 } });
    const state = makeState({ edit: true, old: { version: 2, view: page.view, page } });
    assert.equal(model.titles(state, page).tab, "flights.csv (version 2)");
    assert.deepEqual(model.oldBanner(state), { version: "2" });
    const bar = model.viewBar(state, page);
    assert.equal(bar.group, null); // an old version is never the group's
    assert.equal(bar.note, "Your view: sorted by carrier ▲");
    assert.equal(bar.downloads.tsv, `/parser/api/docs/${ID}/download?sort=0&version=2&format=tsv`);
    assert.equal(bar.downloads.original, `/parser/api/docs/${ID}/download?version=2&format=original`);
    for (const format of ["parquet", "arrow", "xlsx"]) {
      assert.equal(bar.downloads[format], `/parser/api/docs/${ID}/download?sort=0&version=2&format=${format}`);
    }
    assert.equal(model.restoredNotice(2, 5), "Version 2 restored as version 5");
  });

  test("the live table: no banner, the tab named by the table", () => {
    const page = makePage();
    const state = makeState({ page });
    assert.equal(model.oldBanner(state), null);
    assert.deepEqual(model.titles(state, page), {
      hidden: false,
      filename: "flights.csv",
      version: "version 3",
      tab: "flights.csv",
    });
    assert.equal(model.titles(state, makePage({ version: null })).tab, "tablecast");
    assert.equal(model.titles(state, makePage({ name: "report" })).tab, "report");
  });
});

describe("the table", () => {
  test("columns of numbers are right-aligned, missing values allowed", () => {
    const page = makePage({ columns: ["a", "b", "c"], data: [["x", "1,200", "NA"], ["y", "-3.5", "2"]] });
    assert.deepEqual(model.numericColumns(page, null), [false, true, true]);
  });

  test("the server's types win once known", () => {
    const page = makePage({ columns: ["a", "b"], data: [["1", "x"]] });
    assert.deepEqual(model.numericColumns(page, ["text", "decimal"]), [false, true]);
  });

  test("a column of missing values only is no number", () => {
    const page = makePage({ columns: ["a"], data: [["NA"], [""]] });
    assert.deepEqual(model.numericColumns(page, null), [false]);
  });

  test("the sort arrows", () => {
    assert.equal(model.arrow(model.sortOf({ ...PLAIN, sort: 1, order: "desc" }, 1)), "▼");
    assert.equal(model.arrow(model.sortOf({ ...PLAIN, sort: 1 }, 1)), "▲");
    assert.equal(model.arrow(model.sortOf({ ...PLAIN, sort: 1 }, 0)), "");
  });
});

describe("what changed between two versions", () => {
  const diff = {
    from: 3,
    to: 5,
    columns: ["id", "name", "city"],
    counts: { added: 1, removed: 2, changed: 1 },
    added: [{ row: 4, cells: ["5", "Barbara", "Boston"] }],
    removed: [
      { row: 2, cells: ["2", "Alan"] },
      { row: 9, cells: ["9", "Linus", "Helsinki"] },
    ],
    changed: [{ row: 2, from_row: 3, cells: { 2: ["Arlington", "New York"] }, new_cells: ["3", "Grace", "New York"] }],
    truncated: false,
  };

  test("counts said as a person says them", () => {
    assert.equal(model.changeCounts({ added: 1, removed: 2, changed: 1200 }), "1 row added, 1,200 changed, 2 removed");
    assert.equal(model.changeCounts({ added: 0, removed: 0, changed: 2 }), "2 rows changed");
    assert.equal(model.changeCounts({ added: 0, removed: 0, changed: 0 }), "no row changed");
    assert.equal(model.changesTitle(diff), "Version 3 → version 5: 1 row added, 1 changed, 2 removed");
  });

  test("a change a row: changed cells old and new, added rows, removed rows of the older version", () => {
    const rows = model.changeRows(diff, 3);
    assert.deepEqual(
      rows.map((row) => [row.kind, row.label]),
      [
        ["changed", "Row 2 changed (row 3 before)"],
        ["added", "Row 4 added"],
        ["removed", "Row 2 removed (of version 3)"],
        ["removed", "Row 9 removed (of version 3)"],
      ],
    );
    assert.deepEqual(rows[0].cells, [
      { text: "3", changed: false },
      { text: "Grace", changed: false },
      { text: "New York", old: "Arlington", changed: true },
    ]);
    assert.deepEqual(
      rows[2].cells.map((cell) => cell.text),
      ["2", "Alan", ""], // a ragged row, as wide as the table
    );
  });

  test("what is not listed, and a header that changed, are said", () => {
    assert.equal(model.changesNote(diff), "");
    const cut = { ...diff, truncated: true, counts: { added: 1000, removed: 2, changed: 1 }, from_columns: ["id", "name", "town"] };
    assert.equal(model.changesNote(cut), "The columns were id, name, town. Showing 4 of 1,003 changes.");
  });

  test("since one last looked: only a newer version with changed rows", () => {
    assert.equal(model.sinceLastLooked(3, diff), "Since you last looked (version 3, now 5): 1 row added, 1 changed, 2 removed.");
    assert.equal(model.sinceLastLooked(null, diff), null);
    assert.equal(model.sinceLastLooked(4, diff), null); // not the changes since then
    const same = { ...diff, counts: { added: 0, removed: 0, changed: 0 } };
    assert.equal(model.sinceLastLooked(3, same), null);
  });
});

// A one-page table of three people, as the tests of cells edited and changed use it.
function people(fields = {}) {
  return makePage({
    version: 4,
    page_no: 1,
    page_count: 1,
    first_row: 1,
    total_number: 3,
    columns: ["name", "city"],
    data: [
      ["Ada", "Paris"],
      ["Grace", "Oslo"],
      ["Alan", "Lima"],
    ],
    cause: "version",
    ...fields,
  });
}

describe("cells edited in place", () => {
  const editing = (fields = {}) =>
    makeState({ edit: true, editKey: "k", editor: null, saving: new Map(), highlights: new Map(), ...fields });

  test("only an edit link holding its key edits, on the live table, with rows numbered as the file's", () => {
    const page = people();
    assert.equal(model.mayEditCells(editing(), page), true);
    assert.equal(model.mayEditCells(editing({ edit: false }), page), false); // a view link
    assert.equal(model.mayEditCells(editing({ editKey: null }), page), false); // the API asks for it
    assert.equal(model.mayEditCells(editing({ old: { version: 2 } }), page), false);
    assert.equal(model.mayEditCells(editing(), people({ view: { ...PLAIN, header: false } })), false);
    assert.equal(model.mayEditCells(editing(), people({ view: { ...PLAIN, sort: 1 }, rows: [3, 2, 1] })), true);
    assert.equal(model.mayEditCells(editing(), people({ version: null, data: [] })), false);
  });

  test("rows are named by their number in the file: a sorted view says each", () => {
    assert.deepEqual(model.rowNumbers(people({ first_row: 51 })), [51, 52, 53]);
    const sorted = people({ view: { ...PLAIN, sort: 1 }, rows: [3, 2, 1], data: [["Alan", "Lima"], ["Grace", "Oslo"], ["Ada", "Paris"]] });
    assert.deepEqual(model.rowNumbers(sorted), [3, 2, 1]);
    assert.equal(model.cellText(sorted, 1, 1), "Paris");
    assert.equal(model.cellText(sorted, 4, 1), null); // not shown
  });

  test("a cell shows one's own value while it is saved", () => {
    const saving = new Map([["2:1", { row: 2, column: 1, value: "Bergen", version: 4, made: null }]]);
    assert.equal(model.cellText(people(), 2, 1, saving), "Bergen");
    assert.equal(model.cellText(people(), 2, 0, saving), "Grace");
    assert.equal(model.cellText(people({ data: [["Ada"], ["Grace"], ["Alan"]] }), 1, 1), ""); // a short row
  });

  test("the editor stays on its cell while the page shows it", () => {
    const editor = { row: 2, column: 1, was: "Oslo", version: 4 };
    assert.deepEqual(model.editorCell(editing({ editor }), people()), { row: 2, column: 1 });
    assert.equal(model.editorCell(editing({ editor }), people({ first_row: 101 })), null); // another page
    assert.equal(model.editorCell(editing({ editor, edit: false }), people()), null);
    assert.equal(model.editorCell(editing(), people()), null);
    assert.equal(model.editorLabel(people(), 2, 1), "Edit row 2, city");
  });

  test("marks: one's values on their way, and changes for a few seconds", () => {
    const saving = new Map([
      ["2:1", { row: 2, column: 1, value: "Bergen", version: 4, made: null }],
      ["9:1", { row: 9, column: 1, value: "off the page", version: 4, made: null }],
    ]);
    const highlights = new Map([
      ["1:0", 1000],
      ["3:1", 1000 - model.HIGHLIGHT_FOR], // over
    ]);
    const marks = model.cellMarks(editing({ saving, highlights }), people(), 1500);
    assert.deepEqual(marks, { saving: [{ row: 2, column: 1, value: "Bergen" }], changed: [{ row: 1, column: 0, age: 500 }] });
    // a view counting rows from another record marks nothing: its numbers name other rows
    const switched = people({ view: { ...PLAIN, header: false } });
    assert.deepEqual(model.cellMarks(editing({ saving, highlights }), switched, 1500), { saving: [], changed: [] });
  });
});

describe("the cells a new version changed", () => {
  const before = people({ cause: "turn" });
  const after = (fields = {}) => ({ ...before, version: 5, cause: "version", ...fields });

  test("each cell whose text differs, by row number and column", () => {
    const page = after({ data: [["Ada", "Lyon"], ["Grace", "Oslo"], ["alan", ""]] });
    assert.deepEqual(model.changedCells(before, page), ["1:1", "3:0", "3:1"]);
    assert.deepEqual(model.changedCells(before, after()), []); // a version changing other pages
  });

  test("rows added: a table in file order shows them whole; a ragged row's new cells count", () => {
    const page = after({ total_number: 4, data: [...before.data, ["Edsger", "Austin"]] });
    assert.deepEqual(model.changedCells(before, page), ["4:0", "4:1"]);
    const longer = after({ data: [["Ada", "Paris", "x"], ["Grace", "Oslo"], ["Alan", "Lima"]] });
    assert.deepEqual(model.changedCells(before, longer), ["1:2"]);
    const padded = after({ data: [["Ada", "Paris", ""], ["Grace", "Oslo"], ["Alan", "Lima"]] });
    assert.deepEqual(model.changedCells(before, padded), []); // filled up to a column set: empty
  });

  test("a sorted view compares rows by their number in the file: a row moved onto the page is no change", () => {
    const sorted = { ...before, view: { ...PLAIN, sort: 1 }, rows: [3, 2, 1], data: [["Alan", "Lima"], ["Grace", "Oslo"], ["Ada", "Paris"]] };
    const page = { ...sorted, version: 5, cause: "version", rows: [4, 3, 2], data: [["Edsger", "Bergen"], ["Alan", "Lima"], ["Grace", "Oslo!"]] };
    assert.deepEqual(model.changedCells(sorted, page), ["2:1"]);
  });

  test("not compared: another page, view, columns or version's first page, or rows deleted", () => {
    const page = after({ data: [["Ada", "Lyon"], ["Grace", "Oslo"], ["Alan", "Lima"]] });
    assert.equal(model.changedCells(before, { ...page, cause: "request" }), null);
    assert.equal(model.changedCells(before, { ...page, page_no: 2 }), null);
    assert.equal(model.changedCells(before, { ...page, view: { ...PLAIN, q: "a" } }), null);
    assert.equal(model.changedCells(before, { ...page, columns: ["name", "town"] }), null);
    assert.equal(model.changedCells(before, { ...page, total_number: 2 }), null); // rows moved up
    assert.equal(model.changedCells(before, { ...page, version: 4 }), null); // the same version
    assert.equal(model.changedCells(null, page), null);
    // who set the view is no matter: its rows are the same
    assert.deepEqual(model.changedCells({ ...before, view: { ...PLAIN, by: "Ann" } }, { ...page, view: { ...PLAIN, by: "Bo" } }), ["1:1"]);
  });
});

describe("one's own edits, overwritten", () => {
  const page = (fields = {}) =>
    people({ version: 6, data: [["Ada", "Paris"], ["Grace", "Quito"], ["Alan", "Lima"]], ...fields });
  const edit = { row: 2, column: 1, value: "Bergen", version: 5, total: 3, columns: ["name", "city"], at: 10_000 };

  test("a later version showing another value: told once, the others kept", () => {
    const same = { ...edit, row: 3, value: "Lima" };
    const { told, kept } = model.overwrittenEdits([edit, same], page(), 20_000);
    assert.deepEqual(told, [{ ...edit, now: "Quito" }]);
    assert.deepEqual(kept, [same]);
    assert.equal(model.overwrittenText(told[0]), "Your edit of row 2, column city was overwritten: it now says “Quito”.");
    assert.equal(model.overwrittenText({ ...told[0], now: "" }), "Your edit of row 2, column city was overwritten: it is empty now.");
  });

  test("kept while nothing says otherwise: its own version, a page without its row, a search, one's own save on its way", () => {
    assert.deepEqual(model.overwrittenEdits([edit], page({ version: 5 }), 20_000).kept, [edit]);
    assert.deepEqual(model.overwrittenEdits([edit], page({ first_row: 101 }), 20_000).kept, [edit]);
    assert.deepEqual(model.overwrittenEdits([edit], page({ view: { ...PLAIN, q: "a" }, rows: [1, 2, 3] }), 20_000).kept, [edit]);
    const saving = new Map([["2:1", { row: 2, column: 1, value: "Quito" }]]);
    assert.deepEqual(model.overwrittenEdits([edit], page(), 20_000, saving), { told: [], kept: [edit] });
  });

  test("forgotten after a minute, or when rows were deleted or the columns are others", () => {
    const late = 10_000 + model.WATCH_EDITS_FOR + 1;
    assert.deepEqual(model.overwrittenEdits([edit], page({ version: 5 }), late), { told: [], kept: [] });
    assert.deepEqual(model.overwrittenEdits([edit], page({ total_number: 2 }), 20_000), { told: [], kept: [] });
    assert.deepEqual(model.overwrittenEdits([edit], page({ columns: ["a", "b"] }), 20_000), { told: [], kept: [] });
  });

  test("what one's save replaced of someone else's is said; one's own earlier values are not", () => {
    const overwritten = [{ row: 3, column: 1, was: "Lima", value: "Quito" }];
    assert.equal(
      model.replacedText(model.othersOverwritten(overwritten, [])),
      "Your edit replaced “Lima” in row 3, set by someone else since you looked.",
    );
    const mine = [{ row: 3, column: 1, value: "Lima" }];
    assert.equal(model.replacedText(model.othersOverwritten(overwritten, mine)), null);
    assert.equal(model.replacedText(model.othersOverwritten(undefined, [])), null);
  });

  test("a save refused says why; one never answered says the connection", () => {
    assert.equal(model.notSaved("row_not_found", "version 4 has no row 9"), model.ERRORS.row_not_found);
    assert.match(model.notSaved("wrong_edit_key"), /does not open this table/);
    assert.equal(model.notSaved(undefined, "Failed to fetch"), "Your edit could not be sent: is the connection lost?");
  });
});

describe("rows added and deleted", () => {
  const editing = (fields = {}) =>
    makeState({
      edit: true,
      editKey: "k",
      newRow: { open: true, adding: false, added: null, blank: false },
      selection: model.emptySelection(),
      deleting: false,
      ...fields,
    });
  const five = (fields = {}) =>
    people({
      total_number: 5,
      data: [["Ada", "Paris"], ["Grace", "Oslo"], ["Alan", "Lima"], ["Edsger", "Austin"], ["Barbara", "Boston"]],
      ...fields,
    });
  const select = (page, ...clicks) =>
    clicks.reduce((selection, [row, range]) => model.selectRows(selection, page, row, range), model.emptySelection());

  test("a row's number toggles it; Shift+click selects the rows shown from the anchor to it", () => {
    const page = five();
    assert.deepEqual([...select(page, [2]).rows], [2]);
    assert.deepEqual([...select(page, [2], [2]).rows], []);
    assert.deepEqual([...select(page, [2], [4, true]).rows].sort(), [2, 3, 4]);
    assert.deepEqual([...select(page, [4], [2, true]).rows].sort(), [2, 3, 4]); // upwards too
    // a second Shift+click changes the range, on top of what was selected before it
    assert.deepEqual([...select(page, [5], [2], [4, true], [3, true]).rows].sort(), [2, 3, 5]);
    // no anchor yet: Shift+click toggles
    assert.deepEqual([...select(page, [3, true]).rows], [3]);
    // a row the page does not show changes nothing
    assert.deepEqual([...select(page, [2], [9]).rows], [2]);
  });

  test("a range is of the rows as the page shows them: a sorted view's, named by their number in the file", () => {
    const sorted = five({ view: { ...PLAIN, sort: 1 }, rows: [3, 4, 5, 2, 1] });
    assert.deepEqual([...select(sorted, [4], [2, true]).rows].sort(), [2, 4, 5]);
  });

  test("rows stay selected while their numbers name the same rows", () => {
    const before = five({ version: 4, cause: "turn" });
    const selection = select(before, [2], [3, true]);
    const next = (fields) => ({ ...before, version: 5, cause: "version", ...fields });
    const kept = (page) => [...model.keptSelection(selection, before, page).rows].sort();
    assert.deepEqual(kept(before), [2, 3]); // the same page again (a reconnect)
    assert.deepEqual(kept(next({ total_number: 6 })), [2, 3]); // a row added past the page
    const edited = next({ data: [["Ada", "Lyon"], ...before.data.slice(1)] });
    assert.deepEqual(kept(edited), [2, 3]); // another row's cell set
    const setInOne = next({ data: [before.data[0], ["Grace", "Bergen"], ...before.data.slice(2)] });
    assert.deepEqual(kept(setInOne), [3]); // not a row whose cells are others now
    assert.equal(model.keptSelection(selection, before, setInOne).anchor, null);
  });

  test("the selection is dropped by another page, view, columns, a version skipped, or rows deleted", () => {
    const before = five({ version: 4, cause: "turn" });
    const selection = select(before, [2], [3, true]);
    const dropped = (page) => model.keptSelection(selection, before, page).rows.size === 0;
    assert.ok(dropped({ ...before, page_no: 2, first_row: 101 }));
    assert.ok(dropped({ ...before, view: { ...PLAIN, q: "a" }, rows: [1, 2, 3, 4, 5] }));
    assert.ok(dropped({ ...before, columns: ["name", "town"] }));
    assert.ok(dropped({ ...before, version: 5, total_number: 4, data: before.data.slice(0, 4) }));
    assert.ok(dropped({ ...before, version: 6 })); // version 5 might have deleted rows
    assert.ok(dropped({ ...before, view: { ...PLAIN, header: false } }));
    assert.ok(dropped(null));
    const empty = model.emptySelection();
    assert.equal(model.keptSelection(empty, before, null), empty); // nothing to drop
  });

  test("the bar: Add row, and the rows selected with their Delete", () => {
    const page = five();
    const none = model.rowsBar(editing(), page);
    assert.deepEqual(
      [none.hidden, none.deleteHidden, none.clearHidden, none.selected],
      [false, true, true, "Click a row’s number to select it, Shift+click for a range"],
    );
    const selection = select(page, [2], [4, true]);
    const some = model.rowsBar(editing({ selection }), page);
    assert.deepEqual(
      [some.selected, some.deleteText, some.deleteHidden, some.deleteDisabled],
      ["3 rows selected", "Delete 3 rows", false, false],
    );
    assert.equal(model.rowsBar(editing({ selection: select(page, [1]) }), page).deleteText, "Delete 1 row");
    const deleting = model.rowsBar(editing({ selection, deleting: true }), page);
    assert.deepEqual([deleting.deleteText, deleting.deleteDisabled], ["Deleting 3 rows…", true]);
    assert.equal(model.rowsBar(editing({ selection, connectionState: "reconnecting" }), page).deleteDisabled, true);
    assert.deepEqual(model.selectedRows(editing({ selection }), page), { rows: [2, 3, 4], deleting: false });
  });

  test("no rows are changed but where cells may be edited", () => {
    const selection = select(five(), [2]);
    for (const [state, page] of [
      [editing({ edit: false, selection }), five()], // a view link
      [editing({ old: { version: 2 }, selection }), five()], // an old version
      [editing({ selection }), five({ view: { ...PLAIN, header: false } })], // rows numbered otherwise
    ]) {
      assert.equal(model.rowsBar(state, page).hidden, true);
      assert.equal(model.newRowForm(state, page).shown, false);
      assert.deepEqual(model.selectedRows(state, page).rows, []);
    }
  });

  test("the New row form: a field per column; what it says of a blank row and of the row added", () => {
    const page = five();
    const form = model.newRowForm(editing(), page);
    assert.deepEqual([form.shown, form.columns, form.addText, form.said, form.go], [true, ["name", "city"], "Add", "", null]);
    assert.equal(model.newRowForm(editing({ newRow: { open: false, adding: false, added: null, blank: false } }), page).shown, false);
    const adding = model.newRowForm(editing({ newRow: { open: true, adding: true, added: null, blank: false } }), page);
    assert.deepEqual([adding.addText, adding.addDisabled], ["Adding…", true]);
    const blank = model.newRowForm(editing({ newRow: { open: true, adding: false, added: { row: 6, version: 5 }, blank: true } }), page);
    assert.equal(blank.said, model.BLANK_ROW);
    assert.equal(model.isBlankRow(["", "  "]), true);
    assert.equal(model.isBlankRow(["", "x"]), false);
  });

  test("the row added: where it went, and a way to it for a viewer browsing alone", () => {
    const newRow = { open: true, adding: false, added: { row: 12410, version: 7 }, blank: false };
    const page = makePage({ version: 7, total_number: 12410, page_no: 1, first_row: 1, page_size: 100 });
    const alone = editing({ newRow, follow: false });
    assert.equal(model.newRowForm(alone, page).said, "Row 12,410 added at the end.");
    assert.deepEqual(model.newRowForm(alone, page).go, { row: 12410, text: "Go to row 12,410" });
    assert.equal(model.newRowForm(editing({ newRow }), page).go, null); // the group stays where it is
    const last = { ...page, page_no: 125, first_row: 12401, data: Array.from({ length: 10 }, () => ["AA", "1"]) };
    assert.equal(model.newRowForm(alone, last).go, null); // shown already
    assert.equal(model.newRowForm(alone, { ...page, version: 6 }).go, null); // its version not come yet
    assert.equal(model.newRowForm(alone, { ...page, version: 8, total_number: 12000 }).go, null); // rows deleted since
    assert.equal(model.pageOfRow(12410, 100), 125);
    assert.equal(model.pageOfRow(100, 100), 1);
    assert.equal(model.pageOfRow(101, 100), 2);
  });

  test("what is typed is carried to a new version's columns: by name, else by place", () => {
    assert.deepEqual(model.carriedCells(["name", "city"], ["Ada", "Paris"], ["city", "name", "zip"]), ["Paris", "Ada", ""]);
    assert.deepEqual(model.carriedCells(["name", "city"], ["Ada", "Paris"], ["name", "town"]), ["Ada", "Paris"]);
    assert.deepEqual(model.carriedCells(["a", "a"], ["1", "2"], ["a", "a"]), ["1", "2"]);
  });

  test("what a delete says; refusals in words", () => {
    assert.equal(model.rowsDeletedText(2, 2), "2 rows deleted.");
    assert.equal(model.rowsDeletedText(1, 1), "1 row deleted.");
    assert.equal(model.rowsDeletedText(3, 2), "2 rows deleted (1 was deleted already, by someone else).");
    assert.equal(model.rowsDeletedText(1, 0), "That row was deleted already, by someone else.");
    assert.equal(model.rowsDeletedText(2, 0), "Those rows were deleted already, by someone else.");
    assert.match(model.notAdded("empty_file", "there are no rows to add"), /repeats the column names/);
    assert.match(model.notAdded("wrong_edit_key"), /does not open this table/);
    assert.match(model.notAdded(undefined, "Failed to fetch"), /could not be sent.*still in the form/);
    assert.equal(model.notDeleted("bad_request", "a row is a number"), "A row is a number");
    assert.match(model.notDeleted(undefined, "Failed to fetch"), /connection lost/);
  });
});

describe("patched", () => {
  const shown = { type: "page", version: 3, page_no: 2, view: { sort: null }, data: [["a"], ["b"], ["c"]], total_number: 3 };
  const patch = { type: "patch", base: 3, version: 4, page_no: 2, view: { sort: null }, length: 4, changes: { 1: ["B"], 3: ["d"] }, total_number: 4 };

  test("a patch of the page shown makes the new version's page", () => {
    const page = model.patched(shown, patch);
    assert.deepEqual(page.data, [["a"], ["B"], ["c"], ["d"]]);
    assert.equal(page.type, "page");
    assert.equal(page.version, 4);
    assert.equal(page.total_number, 4);
    assert.equal("changes" in page || "base" in page || "length" in page, false);
    assert.deepEqual(shown.data, [["a"], ["b"], ["c"]]); // the page shown is left as it was
  });

  test("rows gone from the page's end are cut", () => {
    assert.deepEqual(model.patched(shown, { ...patch, length: 2, changes: {} }).data, [["a"], ["b"]]);
  });

  test("a patch of another page, version or view is no page", () => {
    assert.equal(model.patched(null, patch), null);
    assert.equal(model.patched({ ...shown, version: 2 }, patch), null);
    assert.equal(model.patched({ ...shown, page_no: 1 }, patch), null);
    assert.equal(model.patched({ ...shown, view: { sort: 1 } }, patch), null);
    assert.equal(model.patched(shown, { ...patch, length: 5 }), null); // a row it does not say
  });
});

describe("the sheet switcher", () => {
  const workbook = { format: "xlsx", sheet: "Cities", sheets: ["Cities", "Notes", "Empty"] };
  const editor = { edit: true, editKey: "k" };

  test("an editor picks among the sheets, the one shown selected", () => {
    const shown = model.sheetSwitch(makeState(editor), makePage(workbook));
    assert.deepEqual(shown, {
      shown: true,
      editable: true,
      sheets: ["Cities", "Notes", "Empty"],
      selected: "Cities",
      disabled: false,
      text: "",
      reading: "",
    });
    assert.equal(model.maySwitchSheet(makeState(editor), makePage(workbook)), true);
  });

  test("a view link, or an edit link whose key is not held, reads the sheet's name", () => {
    for (const fields of [{}, { edit: true, editKey: null }, { edit: false, editKey: "k" }]) {
      const shown = model.sheetSwitch(makeState(fields), makePage(workbook));
      assert.deepEqual([shown.shown, shown.editable, shown.text], [true, false, "Sheet: Cities"]);
      assert.equal(model.maySwitchSheet(makeState(fields), makePage(workbook)), false);
    }
  });

  test("nothing for one sheet, no workbook, no table yet, or an old version", () => {
    const state = makeState(editor);
    const hidden = (shown) => !shown.shown;
    assert.ok(hidden(model.sheetSwitch(state, makePage({ format: "xlsx", sheet: "Cities", sheets: ["Cities"] }))));
    assert.ok(hidden(model.sheetSwitch(state, makePage({ format: "text", sheet: null, sheets: [] }))));
    assert.ok(hidden(model.sheetSwitch(state, makePage({}))));
    assert.ok(hidden(model.sheetSwitch(state, makePage({ ...workbook, version: null }))));
    assert.ok(hidden(model.sheetSwitch(state, null)));
    const old = makeState({ ...editor, old: { version: 1, view: PLAIN, page: makePage(workbook) } });
    assert.ok(hidden(model.sheetSwitch(old, old.old.page)));
    assert.ok(hidden(model.sheetSwitch(makeState(), makePage({ ...workbook, version: null }))));
  });

  test("a sheet being read: the one asked for selected, disabled, said", () => {
    const state = makeState({ ...editor, sheetAsked: { sheet: "Notes", made: null } });
    const shown = model.sheetSwitch(state, makePage(workbook));
    assert.deepEqual([shown.selected, shown.disabled, shown.reading], ["Notes", true, "Reading sheet Notes…"]);
    assert.equal(model.maySwitchSheet(state, makePage(workbook)), false);
  });

  test("offline, the select waits for the connection", () => {
    const state = makeState({ ...editor, connectionState: "reconnecting" });
    const shown = model.sheetSwitch(state, makePage(workbook));
    assert.deepEqual([shown.selected, shown.disabled, shown.reading], ["Cities", true, ""]);
  });

  test("a refusal says why: the server's words for a sheet the workbook lacks", () => {
    const lacks = "the workbook has no sheet 'Nope': its sheets are 'Cities', 'Notes'";
    assert.equal(model.sheetNotRead("Nope", "bad_option", lacks), "The workbook has no sheet 'Nope': its sheets are 'Cities', 'Notes'");
    assert.equal(model.sheetNotRead("Notes", "wrong_edit_key", "wrong key"), model.ERRORS.wrong_edit_key);
    const gone = "the workbook this table was read from is no longer kept: upload it again";
    assert.equal(model.sheetNotRead("Notes", "original_not_kept", gone), "The workbook this table was read from is no longer kept: upload it again");
    assert.equal(model.sheetNotRead("Notes", undefined, "Failed to fetch"), "Sheet Notes could not be asked for: is the connection lost?");
  });
});
