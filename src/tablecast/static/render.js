// Each part of the screen drawn from the state, through the view model: the one place that
// hands the model's answers to the DOM modules. Called after the state changes.

import { $ } from "./dom.js";
import { renderAccess as drawAccess, renderStatus as drawStatus, offerFiles, renderSheet as drawSheet, renderTitles } from "./bar.js";
import { renderOffline, renderOthers as drawOthers, showAlert } from "./banners.js";
import { hideColumnMenu, renderColumnMenu } from "./columnmenu.js";
import { holdEditor, placeEditor } from "./editing.js";
import * as model from "./model.js";
import { renderFollow, renderPageNumber, renderPager, renderRange } from "./pager.js";
import { markSelected, renderNewRow, renderRowsBar } from "./rows.js";
import { showScreen } from "./screens.js";
import { shownPage, state } from "./state.js";
import {
  disableTableControls,
  markChanged,
  markCells,
  markSort,
  menuButton,
  renderStrips,
  renderTable,
  showCell,
} from "./table.js";
import { disableViewControls, renderBusy, renderFacetChips, renderViewBar } from "./viewbar.js";

export function renderPage(page) {
  renderTitles(model.titles(state, page));
  renderAccess();
  const screen = model.screen(state, page);
  showScreen(screen);
  if (screen !== "document") return;
  renderRange(model.rangeText(page), model.raggedNote(page));
  renderPageNumber(model.pager(page, model.isOffline(state)));
  const table = $("table");
  holdEditor(); // the cell editor outlives the rows drawn anew under it
  if (renderTable(table, page, model.typesOf(state, page), model.mayEditCells(state, page))) renderProfiles();
  markCells(table, model.cellMarks(state, page, performance.now()));
  const editing = model.editorCell(state, page);
  if (editing) placeEditor(table, editing); // else it stays out, for app.js to close
  renderRows();
  renderViewBar(model.viewBar(state, page));
  renderFacetChips(model.facetChips(state, page));
  renderMenu();
  renderOnline();
  renderPending();
}

// The page shown, again: what it says depends on something that changed (types, access).
export function renderShown() {
  if (shownPage()) renderPage(shownPage());
}

// One cell of the live page again (one's save of it answered or refused).
export function renderCell(row, column) {
  const page = state.page;
  if (!page || state.old || !model.mayEditCells(state, page)) return;
  const text = model.cellText(page, row, column, state.saving);
  if (text !== null) showCell($("table"), { row, column }, text, state.saving.has(model.cellKey(row, column)));
}

// What may be done with rows (add one, delete those selected), and the rows selected.
export function renderRows() {
  const page = shownPage();
  if (!page || page.version === null) return;
  renderRowsBar(model.rowsBar(state, page));
  renderNewRow(model.newRowForm(state, page));
  markSelected($("table"), model.selectedRows(state, page));
}

// The cells a new version changed, marked for a few seconds: those whose time is over unmarked.
export function renderChanged() {
  const page = shownPage();
  if (page) markChanged($("table"), model.cellMarks(state, page, performance.now()).changed);
}

// The strips under the column names, from the profiles known.
export function renderProfiles() {
  const page = shownPage();
  if (!page || page.version === null) return;
  const { strips, stale } = model.strips(state.profiles, page);
  renderStrips($("table"), strips, stale);
}

// The column menu, when open: `place` puts it under its button (when it opens).
export function renderMenu(place = false) {
  const page = shownPage();
  const { menu } = state;
  if (!menu || !page || page.version === null || menu.column >= page.columns.length) {
    hideColumnMenu();
    return;
  }
  const profile = model.profileOf(state.profiles, page, menu.column);
  const shown = model.columnMenu(menu, page, profile, { offline: model.isOffline(state) });
  renderColumnMenu(shown, menuButton($("table"), menu.column), place);
}

// What this viewer may do; the sheet switcher is an editor's.
export function renderAccess() {
  drawAccess(model.access(state));
  renderSheet();
}

// The workbook's sheet shown: a select for editors (disabled while another is read), else its name.
export function renderSheet() {
  drawSheet(model.sheetSwitch(state, shownPage()));
}

export function renderOnline() {
  const online = model.online(state);
  renderOffline(online);
  disableViewControls(online.offline);
  disableTableControls($("table"), online.offline);
  const page = shownPage();
  if (page && page.version !== null) renderPager(model.pager(page, online.offline));
  renderRows();
  renderSheet();
}

export function renderFollowing() {
  renderFollow(model.follow(state));
}

export function renderPending() {
  const { pending } = state;
  renderBusy(model.busy(pending));
  if (pending && pending.view) markSort($("table"), pending.view);
}

export function renderOthers() {
  drawOthers(model.othersUpload(state.others));
}

let countdown = null;
// The connection's status; a wait before reconnecting is counted down, so that a long wait
// is seen to be a wait.
export function renderStatus({ state: connectionState, retryIn }) {
  clearInterval(countdown);
  if (connectionState === "reconnecting" && retryIn) {
    const at = performance.now() + retryIn;
    const tick = () => drawStatus(connectionState, model.statusText(connectionState, at - performance.now()));
    tick();
    countdown = setInterval(tick, 1000);
  } else {
    drawStatus(connectionState, model.statusText(connectionState));
  }
  renderOnline();
  if (state.menu) renderMenu(); // its controls need the connection too
}

// An error or a refusal, over the table.
export function sayAlert(text) {
  showAlert(model.alertText(text, model.hasVersion(state)));
}

export function explain(code, fallback) {
  return model.explain(code, fallback, state.limits);
}

export function showMissing() {
  showScreen("missing");
  offerFiles(false); // uploads start from a new table, not a missing one
}
