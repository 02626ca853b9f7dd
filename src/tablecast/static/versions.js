// Versions: the list of every version, an old one opened read-only (read over HTTP, sorted
// and searched on one's own), and restoring one, which makes it current again for everyone as
// a new version.

import { fetchPage, fetchVersions, restoreVersion } from "./api.js";
import { answered, ask } from "./asking.js";
import { renderOldBanner, showNotice } from "./banners.js";
import * as model from "./model.js";
import { profilesFor } from "./profiles.js";
import { explain, renderPage, sayAlert } from "./render.js";
import * as change from "./state.js";
import { state } from "./state.js";
import { PLAIN } from "./views.js";
import { isPanelOpen, renderVersionList, togglePanel } from "./versionlist.js";

// Fetches one at a time, in the order asked (opening, older, a new version), so none applies
// its answer to a list another has changed meanwhile.
let queue = Promise.resolve();
let heard = null; // the connection whose new versions refresh the list
let refreshedTo = 0; // the newest version a refresh was asked for

// A page of the old version being looked at, in its view; `text` says what is coming while
// it is slow to come. Only the newest asked for is shown.
export async function showOldPage(pageNo, text = model.loadingPage(pageNo), view = null) {
  const { old } = state;
  const pending = ask(text, { view });
  let page;
  try {
    page = await fetchPage(state.documentId, old.version, old.view, pageNo);
  } catch (error) {
    if (state.pending === pending) sayAlert(explain(error.code, error.message));
    answered(pending);
    return;
  }
  if (state.old !== old || state.pending !== pending) return; // overtaken meanwhile
  change.oldPageArrived(old, page);
  change.pageArrived(page);
  answered(pending);
  renderOldBanner(model.oldBanner(state));
  renderPage(old.page);
  profilesFor(old.page);
}

export function openVersion(version) {
  change.oldVersionOpened(version, { ...PLAIN });
  showOldPage(1, `Opening version ${version}…`);
}

export function backToLive() {
  change.backToLive();
  answered(); // whatever was asked of the old version is not wanted any more
  renderOldBanner(null);
  if (state.page) {
    renderPage(state.page);
    profilesFor(state.page);
  }
}

export async function toggleVersions(connection) {
  if (togglePanel()) await list(connection);
}

// One change to the list at a time; an error is shown, and the list stays as it was.
function run(step) {
  queue = queue.then(async () => {
    const { documentId } = state;
    if (!documentId) return;
    try {
      await step(documentId);
    } catch (error) {
      sayAlert(explain(error.code, error.message));
      return;
    }
    render(documentId);
  });
  return queue;
}

// The newest page, afresh (the panel opening).
function list(connection) {
  listen(connection);
  return run(async (documentId) => change.versionsListed(await fetchVersions(documentId)));
}

// The page below the oldest listed, added under it.
export function olderVersions() {
  return run(async (documentId) => {
    const { listing } = state;
    if (!listing || listing.next === null) return;
    change.olderVersionsListed(await fetchVersions(documentId, listing.next));
  });
}

// New versions on top, and which is current now.
function refresh() {
  return run(async (documentId) => change.newerVersionsListed(await fetchVersions(documentId)));
}

// A new version while the panel is open (someone's upload or restore) refreshes it.
function listen(connection) {
  if (!connection || heard === connection) return;
  heard = connection;
  connection.addEventListener("message", ({ detail: message }) => {
    const { listing } = state;
    const paged = message.type === "page" || message.type === "patch"; // (a patch: a page too)
    if (!paged || message.version === null || !isPanelOpen() || !listing) return;
    // every viewer gets the new version's page, and followers more pages of it: once
    if (message.version <= Math.max(listing.current ?? 0, refreshedTo)) return;
    refreshedTo = message.version;
    refresh();
  });
}

function render(documentId) {
  if (!state.listing) return;
  renderVersionList(model.versionItems(state.listing, { documentId, canRestore: state.edit }));
}

export async function restore(version) {
  try {
    const restored = await restoreVersion(state.documentId, version, state.editKey);
    showNotice(model.restoredNotice(version, restored.version));
  } catch (error) {
    sayAlert(explain(error.code, error.message));
    return;
  }
  backToLive();
  await refresh();
}
