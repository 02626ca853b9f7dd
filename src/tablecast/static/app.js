// The tablecast page: drop a file, watch it upload, share the link, browse the table together.
// What the viewer does and what the server says, turned into changes of the state
// (state.js) and drawn (render.js); every listener is bound in bindings.js.

import * as answers from "./answers.js";
import { answered, ask } from "./asking.js";
import { offerFiles, renderPresence, sayCopied } from "./bar.js";
import { hideAlert, showNotice } from "./banners.js";
import { bindControls } from "./bindings.js";
import * as changes from "./changes.js";
import { focusColumnMenu } from "./columnmenu.js";
import { Connection } from "./connection.js";
import { $ } from "./dom.js";
import { editLink, forgetKey, savedKey, saveKey, takeKeyFromLink } from "./keys.js";
import * as model from "./model.js";
import { myName } from "./name.js";
import * as profiles from "./profiles.js";
import {
  explain,
  renderAccess,
  renderFollowing,
  renderOthers,
  renderPage,
  renderShown,
  renderStatus,
  sayAlert,
  showMissing,
} from "./render.js";
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
  if (page.cause === "version" && page.version !== null && (!previous || previous.version !== page.version)) {
    showNotice(model.newVersionNotice(page));
    hideAlert(); // what it said was about the table before this one
  }
  // a document made on the start page has its link from its first table (see showShareLink)
  if (page.version !== null && connection && !document.body.dataset.document) showShareLink(connection.documentId);
  change.livePageShown(page);
  change.pageArrived(page);
  changes.lookedAt(state.documentId, page.version, page.columns);
  if (!state.old && state.pending && state.pending.answers(page)) answered();
  if (!state.old) {
    renderPage(page);
    profiles.profilesFor(page);
  }
}

// What the viewer does

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
  });
  if (documentId) {
    offerFiles(Boolean(editKey)); // until hello says what this viewer may do
    connect(); // a share link: join at once
  } else {
    showScreen("empty"); // a new table: connect when there is a file to send
  }
}

start();
