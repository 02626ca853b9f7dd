// Column profiles and facet values, fetched over HTTP for the version and rows shown: the
// profiles once per version and view (a search, a filter, a facet, a type, the header; never
// a page turn or a sort), the values of the column whose menu is open once per view and limit.
// Only the answer to the last question is kept; a failure leaves the strips empty (a server
// without profiles still serves the table).

import { fetchFacetValues, fetchProfiles } from "./api.js";
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

async function loadProfiles(key, page) {
  if (loading) loading.abort();
  const controller = new AbortController();
  loading = controller;
  let answer = null;
  try {
    answer = await fetchProfiles(page.id, page.version, page.view, controller.signal);
  } catch {
    answer = null;
  } finally {
    if (loading === controller) loading = null;
  }
  if (!change.profilesArrived(key, answer)) return; // overtaken by another view
  renderProfiles();
  if (state.menu) renderMenu();
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
