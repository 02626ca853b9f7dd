// The app's state (src/tablecast/static/state.js): its named changes, one after another as
// the app makes them. The module holds one state, so these tests run in order.

import assert from "node:assert/strict";
import { test } from "node:test";

import * as change from "../../src/tablecast/static/state.js";
import { shownPage, state } from "../../src/tablecast/static/state.js";

const versions = (...numbers) => numbers.map((version) => ({ version }));

test("a held edit key leaves access unknown until its answer", async () => {
  change.started({ documentId: "d", name: "Guest 5", editKey: "k" });
  assert.equal(state.access.settled, false);
  change.helloHeard({ id: "d", url: "u", limits: {}, edit: false });
  change.accessRefused(true);
  await state.access.promise;
  assert.deepEqual([state.access.settled, state.refused, state.edit], [true, true, false]);
  change.accessUnknown(); // the next hello asks again
  change.accessGranted(true);
  assert.deepEqual([state.access.settled, state.refused, state.edit], [true, false, true]);
});

test("a lost connection forgets others' uploads and whether this viewer may edit", () => {
  change.othersUploading({ upload: "u1", state: "receiving", filename: "a", size: 10, received: 1 });
  change.othersUploading({ upload: "u2", state: "receiving", filename: "b", size: 10, received: 1 });
  change.othersUploading({ upload: "u1", state: "done" });
  assert.deepEqual([...state.others.keys()], ["u2"]);
  change.connectionChanged("reconnecting");
  assert.equal(state.others.size, 0);
  assert.equal(state.access.settled, false);
  assert.equal(state.connectionState, "reconnecting");
});

test("browsing alone keeps one's own page; an old version is shown over the live table", () => {
  change.livePageShown({ page_no: 7, version: 2, view: null });
  change.followChanged(false);
  assert.equal(state.ownPage, 7);
  change.livePageShown({ page_no: 9, version: 2, view: null });
  assert.equal(state.ownPage, 9);
  change.browsingAlone();
  assert.equal(state.ownPage, 1);
  change.oldVersionOpened(1, { sort: null });
  assert.equal(shownPage(), null); // its page is on its way
  const old = { page_no: 1, version: 1 };
  change.oldPageArrived(state.old, old);
  assert.equal(shownPage(), old);
  change.backToLive();
  assert.equal(shownPage().page_no, 9);
});

test("a page remembers whether its version was uploaded with a header, and its types", () => {
  change.pageArrived({ version: 4, has_header: false, view: { header: null }, types: ["integer"] });
  change.pageArrived({ version: 4, has_header: true, view: { header: true }, types: null });
  assert.equal(state.asUploaded.get(4), false); // a view switching it is not how it was uploaded
  assert.deepEqual(state.types.get("4:false"), ["integer"]);
  change.typesArrived({ version: 4, header: true, types: ["text"] });
  assert.deepEqual(state.types.get("4:true"), ["text"]);
});

test("the versions list: older pages go under, newer versions on top", () => {
  change.versionsListed({ current: 300, next: 251, versions: versions(300, 299) });
  change.olderVersionsListed({ current: 300, next: 201, versions: versions(299, 250, 249) });
  assert.deepEqual(state.listing.versions.map((v) => v.version), [300, 299, 250, 249]);
  assert.equal(state.listing.next, 201);
  // a version uploaded meanwhile: on top, and current; the older pages stay listed
  change.newerVersionsListed({ current: 301, next: 252, versions: versions(301, 300) });
  assert.deepEqual(state.listing.versions.map((v) => v.version), [301, 300, 299, 250, 249]);
  assert.equal(state.listing.current, 301);
  assert.equal(state.listing.next, 201);
});

test("more new versions than a page: the newest page afresh", () => {
  change.newerVersionsListed({ current: 400, next: 351, versions: versions(400, 399) });
  assert.deepEqual(state.listing.versions.map((v) => v.version), [400, 399]);
  assert.equal(state.listing.next, 351);
});

test("a request answered is answered once; an older one changes nothing", () => {
  const first = { text: "a" };
  const second = { text: "b" };
  change.asked(first);
  change.asked(second);
  assert.equal(change.answered(first), false);
  assert.equal(state.pending, second);
  assert.equal(change.saidSlow(first), false); // replaced: never said
  assert.equal(first.shown, undefined);
  assert.equal(change.saidSlow(second), true);
  assert.equal(change.answered(), true);
  assert.equal(state.pending, null);
  assert.equal(change.saidSlow(second), false); // answered before it was slow
});

test("one's own value is shown until the version its save made is", () => {
  change.livePageShown({ page_no: 1, version: 4, view: null });
  const first = change.cellSaving({ row: 2, column: 1, value: "Bergen", version: 4 });
  assert.equal(state.saving.get("2:1"), first);
  assert.equal(change.cellSaved(first, 5), false); // version 5 not shown yet
  change.savedCellsShown({ version: 4 });
  assert.equal(state.saving.get("2:1"), first);
  change.savedCellsShown({ version: 5 });
  assert.equal(state.saving.size, 0);

  // a second value sent before the first is answered: the first's answer leaves it be
  const again = change.cellSaving({ row: 2, column: 1, value: "Oslo", version: 5 });
  const newer = change.cellSaving({ row: 2, column: 1, value: "Lima", version: 5 });
  assert.equal(change.cellNotSaved(again), false);
  assert.equal(state.saving.get("2:1"), newer);
  change.livePageShown({ page_no: 1, version: 7, view: null });
  assert.equal(change.cellSaved(newer, 7), true); // its page came before its answer
  assert.equal(state.saving.size, 0);
});

test("edits remembered once per cell; changed cells marked, then faded", () => {
  change.editRemembered({ row: 2, column: 1, value: "A", version: 5 });
  change.editRemembered({ row: 3, column: 1, value: "B", version: 5 });
  change.editRemembered({ row: 2, column: 1, value: "C", version: 6 });
  assert.deepEqual(state.mine.map((edit) => edit.value), ["B", "C"]);
  change.cellsChanged(["1:0", "2:1"], 100);
  change.cellsChanged(["3:1"], 200);
  change.highlightsFaded(150);
  assert.deepEqual([...state.highlights.keys()], ["3:1"]);
  change.highlightsCleared();
  assert.equal(state.highlights.size, 0);
});

test("what one's changes have to say waits for the version each made", () => {
  change.noticeHeard(9, "Your edit replaced “Lima” in row 3, set by someone else since you looked.");
  change.noticeHeard(10, "2 rows deleted.");
  assert.deepEqual(change.noticesDue(null), []); // no table yet
  assert.deepEqual(change.noticesDue(8), []);
  assert.deepEqual(change.noticesDue(10), [
    "Your edit replaced “Lima” in row 3, set by someone else since you looked.",
    "2 rows deleted.",
  ]);
  assert.deepEqual(change.noticesDue(11), []); // said once
});

test("the New row form keeps its last row added, and the rows selected go with their delete", () => {
  change.newRowOpened();
  change.blankRowRefused();
  assert.deepEqual(state.newRow, { open: true, adding: false, added: null, blank: true });
  change.rowAdding();
  assert.deepEqual([state.newRow.adding, state.newRow.blank], [true, false]);
  change.rowAdded({ row: 6, version: 2 });
  change.rowAdding();
  change.rowNotAdded(); // a refusal leaves the last row added said
  change.newRowClosed();
  assert.deepEqual(state.newRow, { open: false, adding: false, added: { row: 6, version: 2 }, blank: false });

  change.rowsSelected({ rows: new Set([2, 3]), anchor: 2, base: new Set([2]) });
  change.rowsDeleting();
  change.rowsNotDeleted(); // to try again
  assert.deepEqual([state.deleting, [...state.selection.rows]], [false, [2, 3]]);
  change.rowsDeleting();
  change.rowsDeleted();
  assert.deepEqual([state.deleting, state.selection.rows.size, state.selection.anchor], [false, 0, null]);
});

test("a sheet asked for is said until the version it made is shown, or it is refused", () => {
  change.livePageShown({ page_no: 1, version: 8, view: null });
  const asked = change.sheetAsked("Notes");
  assert.deepEqual(state.sheetAsked, { sheet: "Notes", made: null });
  change.sheetShown({ version: 9 }); // someone else's version, before the answer: still reading
  assert.equal(state.sheetAsked, asked);
  assert.equal(change.sheetRead(asked, 10), false); // version 10 not shown yet
  change.sheetShown({ version: 9 });
  assert.equal(state.sheetAsked, asked);
  change.sheetShown({ version: 10 });
  assert.equal(state.sheetAsked, null);

  // its page before its answer
  const again = change.sheetAsked("Cities");
  change.livePageShown({ page_no: 1, version: 11, view: null });
  assert.equal(change.sheetRead(again, 11), true);
  assert.equal(state.sheetAsked, null);

  // refused: forgotten; a refusal of an older one leaves a newer be
  const refused = change.sheetAsked("Nope");
  change.sheetNotRead(refused);
  assert.equal(state.sheetAsked, null);
  const newer = change.sheetAsked("Notes");
  change.sheetNotRead(refused);
  assert.equal(change.sheetRead(refused, 12), false);
  assert.equal(state.sheetAsked, newer);
  change.sheetNotRead(newer);
});
