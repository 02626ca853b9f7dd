// Each part of the screen drawn from the state, through the view model: the one place that
// hands the model's answers to the DOM modules. Called after the state changes.

import { $ } from "./dom.js";
import { renderAccess as drawAccess, renderStatus as drawStatus, offerFiles, renderTitles } from "./bar.js";
import { renderOffline, renderOthers as drawOthers, showAlert } from "./banners.js";
import * as model from "./model.js";
import { renderFollow, renderPageNumber, renderPager, renderRange } from "./pager.js";
import { showScreen } from "./screens.js";
import { shownPage, state } from "./state.js";
import { disableTableControls, markSort, renderTable } from "./table.js";
import { disableViewControls, renderBusy, renderViewBar } from "./viewbar.js";

export function renderPage(page) {
  renderTitles(model.titles(state, page));
  renderAccess();
  const screen = model.screen(state, page);
  showScreen(screen);
  if (screen !== "document") return;
  renderRange(model.rangeText(page), model.raggedNote(page));
  renderPageNumber(model.pager(page, model.isOffline(state)));
  renderTable($("table"), page, model.typesOf(state, page));
  renderViewBar(model.viewBar(state, page));
  renderOnline();
  renderPending();
}

// The page shown, again: what it says depends on something that changed (types, access).
export function renderShown() {
  if (shownPage()) renderPage(shownPage());
}

export function renderAccess() {
  drawAccess(model.access(state));
}

export function renderOnline() {
  const online = model.online(state);
  renderOffline(online);
  disableViewControls(online.offline);
  disableTableControls($("table"), online.offline);
  const page = shownPage();
  if (page && page.version !== null) renderPager(model.pager(page, online.offline));
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
