// The tablecast page: drop a file, watch it upload, share the link, browse the table together.
// What the viewer does and what the server says, turned into changes of the state
// (state.js) and drawn (render.js); every listener is bound in bindings.js.

import * as answers from "./answers.js";
import { addRows, deleteRows, readSheet, setCells } from "./api.js";
import { answered, ask } from "./asking.js";
import { offerFiles, renderPresence, sayCopied } from "./bar.js";
import { hideAlert, showAlert, showNotice } from "./banners.js";
import { bindControls } from "./bindings.js";
import * as changes from "./changes.js";
import { focusColumnMenu } from "./columnmenu.js";
import { Connection } from "./connection.js";
import { $ } from "./dom.js";
import {
  closeEditor,
  editorFocused,
  editorShown,
  editorText,
  focusCell,
  isMoving,
  nextCell,
  openEditor,
} from "./editing.js";
import { editLink, forgetKey, savedKey, saveKey, takeKeyFromLink } from "./keys.js";
import * as model from "./model.js";
import { myName } from "./name.js";
import * as profiles from "./profiles.js";
import {
  explain,
  renderAccess,
  renderCell,
  renderChanged,
  renderFollowing,
  renderOthers,
  renderPage,
  renderRows,
  renderSheet,
  renderShown,
  renderStatus,
  sayAlert,
  showMissing,
} from "./render.js";
import { clearNewRow, focusAddRow, focusNewRow, focusRow, newRowCells, newRowFocused } from "./rows.js";
import { showScreen } from "./screens.js";
import { sendFile, showShareLink } from "./sending.js";
import * as change from "./state.js";
import { shownPage, state } from "./state.js";
import { menuButton } from "./table.js";
import { PLAIN, isPlain, nextSort, viewFields, withFacet, withFilter, withType, withoutFacets } from "./views.js";
import * as versions from "./versions.js";

let connection = null;

// Messages from the server

function onMessage({ detail: message }) {
  switch (message.type) {
    case "hello":
      onHello(message);
      break;
    case "page":
      onPage(message);
      break;
    case "patch":
      onPatch(message);
      break;
    case "presence":
      change.presenceHeard(message.viewers);
      renderPresence(model.presence(message.viewers, state.name));
      break;
    case "upload_progress":
      if (state.upload && message.upload === state.upload.id) break;
      change.othersUploading(message);
      renderOthers();
      break;
    case "access":
      change.accessGranted(message.edit);
      renderAccess();
      renderShown();
      break;
    case "types":
      change.typesArrived(message);
      renderShown();
      break;
    case "error":
      if (["view", "goto", "follow"].includes(message.request)) answered();
      if (message.request === "auth") {
        change.accessRefused(message.code !== "rate_limited");
        if (state.refused) forgetEditKey();
        renderAccess();
        renderShown();
      }
      if (message.code === "rate_limited") break; // a held-down arrow key: the page just waits
      if (!String(message.request).startsWith("upload")) sayAlert(explain(message.code, message.message));
      break;
    default:
      break;
  }
}

function onHello(hello) {
  change.helloHeard(hello);
  // a new version that changed a few rows of the page shown comes as those rows (a patch)
  connection.send({ type: "patches", patches: true });
  if (hello.edit_key) saveKey(hello.id, hello.edit_key); // shown to its creator this once
  if (!hello.edit && state.editKey) {
    // edit=false until the key is checked: a file chosen meanwhile waits for the answer
    change.accessUnknown();
    connection.send({ type: "auth", edit_key: state.editKey });
  } else {
    change.accessKnown();
  }
  renderAccess();
  if (!state.follow) {
    // back after a reconnect while browsing alone: the server starts everyone following, in
    // the plain view; this viewer's own view and page are asked for again
    connection.send({ type: "follow", follow: false });
    const own = state.page && state.page.view;
    if (own && !isPlain(own) && !state.page.shared) connection.send({ type: "view", ...viewFields(own) });
    connection.send({ type: "goto", page: state.ownPage });
  }
}

function onPage(page) {
  if (!state.follow && page.cause === "join") return; // our own page is on its way
  const previous = state.page;
  const newVersion = page.version !== null && (!previous || previous.version !== page.version);
  if (page.cause === "version" && newVersion) {
    showNotice(model.newVersionNotice(page));
    hideAlert(); // what it said was about the table before this one
    markChanges(previous, page);
  }
  const due = change.noticesDue(page.version);
  if (due.length) showNotice(due.join(" ")); // after the new version's own notice, which it replaces
  // a document made on the start page has its link from its first table (see showShareLink)
  if (page.version !== null && connection && !document.body.dataset.document) showShareLink(connection.documentId);
  // rows selected stay so while their numbers name the same rows
  change.rowsSelected(model.keptSelection(state.selection, previous, page));
  change.livePageShown(page);
  change.pageArrived(page);
  if (newVersion) tellOverwritten(page);
  change.savedCellsShown(page);
  change.sheetShown(page);
  changes.lookedAt(state.documentId, page.version, page.columns);
  if (!state.old && state.pending && state.pending.answers(page)) answered();
  if (!state.old) {
    renderPage(page);
    profiles.profilesFor(page);
    // the cell being edited is not on this page (another page, view or version): leaving it
    // saves it, as leaving it by a click would
    if (state.editor && !editorShown()) saveCell(null);
    if (state.sought && page.cause === "request" && page.page_no === state.sought.page) foundRow(page);
  }
}

// A new version's page as what changed on the page shown (model.patched): shown as its page;
// if that page is not the one shown (a page it patches was missed), the page is asked for.
function onPatch(patch) {
  const page = model.patched(state.page, patch);
  if (page) {
    onPage(page);
    return;
  }
  if (state.follow) connection.send({ type: "follow", follow: true });
  else connection.send({ type: "goto", page: state.ownPage });
}

// A new version's page: the cells it changed on the page shown before it are marked for a few
// seconds (model.changedCells); those marked before go on fading, unless this page cannot be
// compared cell by cell (their row numbers may name other rows now).
function markChanges(previous, page) {
  const keys = model.changedCells(previous, page);
  if (keys === null) {
    change.highlightsCleared();
    return;
  }
  if (!keys.length) return;
  change.cellsChanged(keys, performance.now());
  fadeLater();
}

let fading = null;
// The marks unmarked as their few seconds end (app.css fades them meanwhile; with reduced
// motion they stay plain until then).
function fadeLater() {
  clearTimeout(fading);
  if (!state.highlights.size) return;
  const oldest = Math.min(...state.highlights.values());
  fading = setTimeout(() => {
    change.highlightsFaded(performance.now() - model.HIGHLIGHT_FOR);
    renderChanged();
    fadeLater();
  }, Math.max(0, oldest + model.HIGHLIGHT_FOR - performance.now()) + 20);
}

// One's own edits that a later version shows otherwise: said once, then forgotten.
function tellOverwritten(page) {
  if (!state.mine.length) return;
  const { told, kept } = model.overwrittenEdits(state.mine, page, Date.now(), state.saving);
  change.editsWatched(kept);
  if (told.length) showAlert(told.map(model.overwrittenText).join(" "));
}

// What the viewer does

// Cells edited in place (docs/protocol.md, "Changing rows"): the editor (editing.js) opens on a
// cell of the live table; its value is sent with PATCH .../cells, rows numbered as the version
// shown when it opened numbers them, and shows at once, marked, until the version it makes comes.

function editCell(row, column) {
  const page = shownPage();
  if (!model.mayEditCells(state, page) || model.isOffline(state)) return;
  const { editor } = state;
  if (editor && editor.row === row && editor.column === column && editorShown()) return;
  if (editor) saveCell(null); // (held out of a page that did not show it)
  const was = model.cellText(page, row, column, state.saving);
  if (was === null) return;
  change.editorOpened({ row, column, was, version: page.version });
  openEditor($("table"), { row, column }, was, model.editorLabel(page, row, column));
}

// The editor's value saved (unless it is the text it opened with), and the editor on to the
// next cell `direction` ("down", "up", "right", "left"), or closed (null: the focus went
// elsewhere; at the page's end, the focus stays on the cell).
function saveCell(direction) {
  const { editor } = state;
  if (!editor) return;
  const table = $("table");
  const value = editorText();
  const next = direction ? nextCell(table, editor, direction) : null;
  change.editorClosed();
  if (value !== editor.was) sendCell(editor, value);
  closeEditorOn(editor);
  if (next) editCell(next.row, next.column);
  else if (direction) focusCell(table, editor);
}

// Escape: nothing sent, the cell shows what it showed.
function cancelCell() {
  const { editor } = state;
  if (!editor) return;
  change.editorClosed();
  closeEditorOn(editor);
  focusCell($("table"), editor);
}

// The focus gone from the editor to elsewhere on the page saves it, as in a spreadsheet. Not
// its own moves (editing.js), nor another window taking the focus (it comes back to it).
function leaveCell() {
  if (!state.editor || isMoving() || editorFocused() || !document.hasFocus()) return;
  saveCell(null);
}

function closeEditorOn({ row, column }) {
  const text = state.page ? model.cellText(state.page, row, column, state.saving) : null;
  closeEditor(text ?? "", state.saving.has(model.cellKey(row, column)));
}

async function sendCell({ row, column, version }, value) {
  const cell = change.cellSaving({ row, column, value, version });
  let answer;
  try {
    answer = await setCells(state.documentId, version, [{ row, column, value }], state.editKey);
  } catch (error) {
    if (change.cellNotSaved(cell)) renderCell(row, column); // back to what the page says
    sayAlert(model.notSaved(error.code, error.message, state.limits));
    return;
  }
  // what it replaced that was not one's own doing is said, once its version is shown
  const mine = [...state.mine, ...[...state.saving.values()].filter((other) => other !== cell)];
  const replaced = model.replacedText(model.othersOverwritten((answer.changed || {}).overwritten, mine));
  const columns = (state.page && state.page.columns) || [];
  const made = answer.version;
  change.editRemembered({ row, column, value, version: made, total: answer.total_number, columns, at: Date.now() });
  if (change.cellSaved(cell, made)) renderCell(row, column);
  if (replaced) sayOnceShown(made, replaced);
}

// What one's change has to say, over the version it made: said once that version is shown (its
// page's own notice, "New version…", would hide it otherwise).
function sayOnceShown(version, text) {
  if (state.page && state.page.version >= version) showNotice(text);
  else change.noticeHeard(version, text);
}

// Rows added and deleted (docs/protocol.md, "POST .../rows", "DELETE .../rows"), where cells may
// be edited: a row typed in the New row form goes to the end of the table; rows selected by
// their numbers are deleted, named as the version shown numbers them (the server follows them
// to where they are now). Nobody moves: each viewer is shown the new version where it is.

function toggleNewRow() {
  if (state.newRow.open) closeNewRow(true);
  else openNewRow();
}

function openNewRow() {
  if (!model.mayEditCells(state, shownPage())) return;
  change.newRowOpened();
  renderRows();
  focusNewRow();
}

// Closed (what it holds stays for next time); `returnFocus`: back to Add row (Escape, ×).
function closeNewRow(returnFocus) {
  change.newRowClosed();
  renderRows();
  if (returnFocus) focusAddRow();
}

async function addRow() {
  const page = shownPage();
  if (!model.mayEditCells(state, page) || model.isOffline(state) || state.newRow.adding) return;
  const cells = newRowCells();
  if (model.isBlankRow(cells)) {
    change.blankRowRefused();
    renderRows();
    return;
  }
  change.rowAdding();
  renderRows();
  let answer;
  try {
    answer = await addRows(state.documentId, [cells], state.editKey);
  } catch (error) {
    change.rowNotAdded();
    renderRows();
    sayAlert(model.notAdded(error.code, error.message, state.limits)); // its cells stay in the form
    return;
  }
  // appended to whatever version was current: the last row of the version it made
  const added = { row: answer.total_number, version: answer.version };
  change.rowAdded(added);
  const typing = newRowFocused();
  clearNewRow(cells);
  renderRows();
  if (typing) focusNewRow(); // the next row, from its first cell
  if (!state.newRow.open) sayOnceShown(added.version, model.rowAddedText(added.row));
}

// Row `row` of the table in file order, on its page: browsing alone only (the group stays
// where it is), leaving one's own view if it sorts or searches.
function goToRow(row) {
  const page = state.page;
  if (!page || !connection || model.isOffline(state) || state.follow || state.old) return;
  const target = model.pageOfRow(row, page.page_size);
  if (!isPlain(page.view)) connection.send({ type: "view", ...viewFields(PLAIN) });
  if (!connection.send({ type: "goto", page: target })) return;
  change.rowSought({ row, page: target });
  ask(model.loadingPage(target), { answers: answers.ownTurn(target, PLAIN) });
}

// The page a row was gone to came: the row is marked a few seconds, its number focused.
function foundRow(page) {
  const { row } = state.sought;
  change.rowSought(null);
  const r = model.rowNumbers(page).indexOf(row);
  if (r < 0) return; // deleted meanwhile
  const width = Math.max(page.columns.length, page.data[r].length);
  change.cellsChanged(Array.from({ length: width }, (_, column) => model.cellKey(row, column)), performance.now());
  renderChanged();
  fadeLater();
  focusRow($("table"), row);
}

function selectRow(row, range) {
  const page = shownPage();
  if (!model.mayEditCells(state, page) || state.deleting) return;
  change.rowsSelected(model.selectRows(state.selection, page, row, range));
  renderRows();
}

function clearSelection() {
  if (state.deleting) return;
  change.selectionCleared();
  renderRows();
}

async function deleteSelected() {
  const page = shownPage();
  if (!model.mayEditCells(state, page) || model.isOffline(state) || state.deleting) return;
  const { rows } = model.selectedRows(state, page);
  if (!rows.length) return;
  change.rowsDeleting();
  renderRows();
  let answer;
  try {
    answer = await deleteRows(state.documentId, page.version, [...rows].sort((a, b) => a - b), state.editKey);
  } catch (error) {
    change.rowsNotDeleted();
    renderRows();
    sayAlert(model.notDeleted(error.code, error.message, state.limits));
    return;
  }
  change.rowsDeleted();
  renderRows();
  // a deleted row is nowhere to be marked: the notice says what went
  sayOnceShown(answer.version, model.rowsDeletedText(rows.length, (answer.changed || {}).deleted ?? rows.length));
}

// Another sheet of the workbook (docs/protocol.md, "POST .../sheet"), chosen in the bar by an
// editor: read by the server from the file kept, as a new version that every viewer gets as an
// upload's. The select says the sheet asked for, disabled, until that version is shown; a
// refusal puts the sheet shown back and says why.
async function chooseSheet(sheet) {
  const page = state.page;
  if (!model.maySwitchSheet(state, page) || !sheet || sheet === page.sheet) {
    renderSheet(); // (the select back to what it may say)
    return;
  }
  const asked = change.sheetAsked(sheet);
  renderSheet();
  let answer;
  try {
    answer = await readSheet(state.documentId, sheet, state.editKey);
  } catch (error) {
    change.sheetNotRead(asked);
    renderSheet();
    sayAlert(model.sheetNotRead(sheet, error.code, error.message, state.limits));
    return;
  }
  if (change.sheetRead(asked, answer.version)) renderSheet();
}

function connect() {
  if (connection) return connection;
  connection = new Connection(state.documentId);
  connection.addEventListener("message", onMessage);
  connection.addEventListener("state", (event) => {
    change.connectionChanged(event.detail.state);
    if (event.detail.state !== "open") {
      renderOthers();
      if (!state.old) answered(); // asked of a connection that is gone
    }
    renderStatus(event.detail);
    if (event.detail.state === "missing") showMissing();
  });
  connection.connect();
  return connection;
}

function goTo(pageNo) {
  const page = shownPage();
  if (!page || !connection || model.isOffline(state)) return;
  const target = model.turnTarget(page, pageNo);
  if (target === null) return;
  const text = model.loadingPage(target);
  if (state.old) {
    versions.showOldPage(target, text);
    return;
  }
  // a view link cannot lead the group: turning a page means browsing on one's own
  if (!state.edit && state.follow) setFollow(false);
  if (!connection.send({ type: "goto", page: target })) return;
  ask(text, { answers: state.follow ? answers.groupTurn() : answers.ownTurn(target, currentView()) });
}

// The view shown, or the one asked for and on its way: a second click on a column waiting
// for its sort goes on from that sort.
function currentView() {
  if (state.pending && state.pending.view) return { ...state.pending.view };
  const page = shownPage();
  return { ...PLAIN, ...((page && page.view) || {}) };
}

// Sort, search, filter, switch the header: for the group when leading it, else on one's own.
function changeView(changes) {
  const from = currentView();
  const view = { ...from, ...changes };
  const page = shownPage();
  const text = model.describeChange(from, view, (page && page.columns) || []);
  if (state.old) {
    change.oldViewChanged(view);
    versions.showOldPage(1, text, view);
    return;
  }
  if (!connection || model.isOffline(state)) return;
  if (!state.edit && state.follow) setFollow(false); // a view link cannot lead the group
  sendView(view, text);
}

function sendView(view, text) {
  if (!connection.send({ type: "view", ...viewFields(view), by: state.name })) return;
  // leading the group changes the group's view; anyone else's is their own
  const leading = state.follow && state.edit;
  ask(text, { view, answers: leading ? answers.groupView(view, state.name) : answers.ownView(view) });
}

// The header switch: back to the table as uploaded is no view of its own.
function switchHeader(checked) {
  const page = shownPage();
  const uploaded = page ? state.asUploaded.get(page.version) : undefined;
  changeView({ header: checked === uploaded ? null : checked });
}

// One click from the group's view to the whole table, browsed on one's own.
function browseAlone() {
  if (!connection || model.isOffline(state)) return;
  change.browsingAlone();
  renderFollowing();
  connection.send({ type: "follow", follow: false });
  sendView({ ...PLAIN }, "Showing the whole table…");
}

function setFollow(follow) {
  change.followChanged(follow);
  renderFollowing();
  if (!connection) return;
  if (!connection.send({ type: "follow", follow })) return;
  if (follow && !state.old) {
    ask("Joining the group…", { answers: answers.joinGroup() });
  }
  if (!follow && state.page && !isPlain(state.page.view)) {
    // browsing on from the shared view: it becomes this viewer's own
    connection.send({ type: "view", ...viewFields(state.page.view) });
  }
}

// The column menu of `column`, opened under its button, the focus in it.
function openMenu(column) {
  profiles.openMenu(column);
  focusColumnMenu();
}

// Closed; `returnFocus`: back to the button that opened it (Escape, its close button).
function closeMenu(returnFocus) {
  const column = state.menu ? state.menu.column : null;
  profiles.closeMenu();
  if (returnFocus && column !== null) {
    const button = menuButton($("table"), column);
    if (button) button.focus();
  }
}

// A column read as another type (or as inferred again: `type` "").
function setType(column, type) {
  const page = shownPage();
  const profile = page ? model.profileOf(state.profiles, page, column) : null;
  changeView(withType(currentView(), column, type || null, profile ? profile.inferred : null));
}

function forgetEditKey() {
  if (connection && connection.documentId) forgetKey(connection.documentId);
  change.editKeyForgotten();
  renderAccess();
}

async function copyLink(button, link) {
  try {
    await navigator.clipboard.writeText(link);
  } catch {
    // no clipboard API outside secure contexts (plain http on another host): copy the old way
    const field = document.createElement("textarea");
    field.value = link;
    document.body.append(field);
    field.select();
    document.execCommand("copy");
    field.remove();
  }
  sayCopied(button);
}

function start() {
  const { dataset } = document.body;
  if (dataset.missing === "true") {
    change.started({ missing: true });
    showMissing();
    return;
  }
  const documentId = dataset.document || null;
  let editKey = null;
  if (documentId) {
    const linkKey = takeKeyFromLink();
    if (linkKey) saveKey(documentId, linkKey);
    editKey = linkKey || savedKey(documentId);
  }
  change.started({ documentId, name: myName(), editKey });
  bindControls({
    upload: (file) => sendFile(file, connect),
    cancelUpload: () => state.upload && state.upload.cancel(),
    copyLink: (button) => copyLink(button, state.url),
    copyEditLink: (button) => copyLink(button, editLink(state.url, state.editKey)),
    retryNow: () => connection && connection.retryNow(),
    follow: setFollow,
    goTo,
    shownPage,
    changeView,
    switchHeader,
    browseAlone,
    sort: (column) => changeView(nextSort(currentView(), column)),
    filter: (column, text) => changeView(withFilter(currentView(), column, text)),
    toggleVersions: () => versions.toggleVersions(connection),
    olderVersions: versions.olderVersions,
    openVersion: versions.openVersion,
    restoreVersion: versions.restore,
    backToLive: versions.backToLive,
    showChanges: (from, to) => {
      const page = shownPage();
      changes.showChanges(state.documentId, from, to, page ? page.columns : []);
    },
    closeChanges: changes.closeChanges,
    stepChanges: changes.step,
    showSince: changes.showSince,
    dismissSince: changes.dismissSince,
    mayUpload: () => model.mayUpload(state),
    openMenu,
    closeMenu,
    menuColumn: () => (state.menu ? state.menu.column : null),
    moreValues: profiles.moreValues,
    columnsInSight: profiles.columnsInSight,
    toggleFacet: (column, value) => changeView(withFacet(currentView(), column, value)),
    clearFacets: () => changeView(withoutFacets()),
    setType,
    sortColumn: (column, order) => changeView({ sort: column, order }),
    editCell,
    saveCell,
    cancelCell,
    leaveCell,
    toggleNewRow,
    closeNewRow,
    addRow,
    goToRow,
    selectRow,
    hasSelection: () => model.selectedRows(state, shownPage()).rows.length > 0,
    deleteRows: deleteSelected,
    clearSelection,
    chooseSheet,
  });
  if (documentId) {
    offerFiles(Boolean(editKey)); // until hello says what this viewer may do
    connect(); // a share link: join at once
  } else {
    showScreen("empty"); // a new table: connect when there is a file to send
  }
}

start();
