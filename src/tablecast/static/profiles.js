// Column profiles and facet values, fetched over HTTP for the version and rows shown: the
// profiles once per version and view (a search, a filter, a facet, a type, the header; never
// a page turn or a sort), the values of the column whose menu is open once per view and limit.
// Only the answer to the last question is kept; a failure leaves the strips empty (a server
// without profiles still serves the table).

import { fetchFacetValues, fetchProfiles, PROFILED_COLUMNS } from "./api.js";
import * as model from "./model.js";
import { renderMenu, renderProfiles } from "./render.js";
import * as change from "./state.js";
import { shownPage, state } from "./state.js";

// A page shown (live or of an old version): its rows' profiles, and the open menu's values.
export function profilesFor(page) {
  const key = model.profileKey(page);
  if (key === null) return;
  if (key !== state.profiles.asked) {
    change.profilesAsked(key);
    renderProfiles(); // the strips of the rows before are dimmed meanwhile
    loadProfiles(key, page);
  }
  if (state.menu) loadValues(page);
}

// The profiles asked for last, while they are on their way: a search typed on asks for others
// before they come, and those no longer wanted are not left to download.
let loading = null;

async function loadProfiles(key, page, from = 0) {
  if (from === 0 && loading) loading.abort();
  const controller = new AbortController();
  if (from === 0) loading = controller;
  let answer = null;
  try {
    answer = await fetchProfiles(page.id, page.version, page.view, from, controller.signal);
  } catch {
    answer = null;
  } finally {
    if (loading === controller) loading = null;
  }
  if (!change.profilesArrived(key, answer, from)) return; // overtaken by another view
  renderProfiles();
  if (state.menu) renderMenu();
  if (from === 0) columnsInSight(); // (scrolled far along a wide table before these came)
}

// The table's columns in sight: their profiles, if not asked for yet. Header cells are in
// order of column, left to right: the first and last in sight found by halving.
export function columnsInSight() {
  const wrap = document.getElementById("table-wrap");
  const row = wrap && wrap.querySelector("thead tr");
  if (!row || row.cells.length < 2) return;
  const cells = row.cells; // (the first heads the row numbers)
  const left = wrap.scrollLeft;
  const right = left + wrap.clientWidth;
  const firstEndingAfter = (x) => {
    let lo = 1;
    let hi = cells.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const cell = cells[mid];
      if (cell.offsetLeft + cell.offsetWidth <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const first = firstEndingAfter(left);
  const last = Math.max(first, firstEndingAfter(right));
  wantColumns(first - 1, Math.min(last, cells.length - 1) - 1);
}

// Columns `first` to `last` of the page shown are in sight (or a menu is open on one): the
// profiles of their ranges, unless asked for already. A table of a few hundred columns or
// fewer is one range, asked for with the page.
export function wantColumns(first, last) {
  const page = shownPage();
  const key = model.profileKey(page);
  if (key === null || key !== state.profiles.asked) return;
  const end = Math.min(last, page.columns.length - 1);
  for (let from = first - (first % PROFILED_COLUMNS); from <= end; from += PROFILED_COLUMNS) {
    if (state.profiles.ranges.has(from)) continue;
    change.profilesAsked(key, from);
    loadProfiles(key, page, from);
  }
}

// The open menu's column values, for the rows shown, unless asked for already.
function loadValues(page) {
  const { menu } = state;
  const key = model.profileKey(page);
  const asked = `${key}:${menu.limit}`;
  if (key === null || menu.asked === asked) return;
  change.facetValuesAsked(menu, asked);
  (async () => {
    let answer = null;
    try {
      answer = await fetchFacetValues(page.id, page.version, page.view, menu.column, menu.limit);
    } catch {
      answer = null;
    }
    if (menu.asked !== asked) return; // more values, or other rows, asked for since
    if (change.facetValuesArrived(menu, key, answer)) renderMenu();
  })();
}

export function openMenu(column) {
  change.menuOpened(column);
  renderMenu(true);
  const page = shownPage();
  if (page) loadValues(page);
  wantColumns(column, column);
}

export function moreValues() {
  if (!state.menu) return;
  change.moreFacetValues();
  const page = shownPage();
  if (page) loadValues(page);
}

export function closeMenu() {
  change.menuClosed();
  renderMenu();
}
