// The tablecast page: drop a file, watch it upload, share the link, browse the table together.

import { Connection } from "./connection.js";
import { bytes, count, plural } from "./format.js";
import { editLink, forgetKey, savedKey, saveKey, takeKeyFromLink } from "./keys.js";
import { markSort, renderTable } from "./table.js";
import { Upload, UploadError } from "./upload.js";
import { Versions } from "./versions.js";
import {
  PLAIN,
  bindViewBar,
  isPlain,
  isSearch,
  myName,
  nextSort,
  renderViewBar,
  sameView,
  withFilter,
} from "./views.js";

const $ = (id) => document.getElementById(id);

const state = {
  connection: null,
  url: null, // the view link, from hello
  edit: false, // this viewer may upload and turn the shared page
  editKey: null, // the document's edit key, when this browser has it
  limits: null,
  page: null, // the last page shown
  follow: true,
  ownPage: 1, // the page this viewer is on while browsing alone
  upload: null, // this viewer's upload in progress
  others: new Map(), // other viewers' uploads in progress, by id
  types: new Map(), // column types by "version:header", as the server infers them
  old: null, // an old version being looked at: { version, view, page }
  name: myName(), // who changed the shared view, as the others see it
  access: settled(), // settles once this connection's access is known (its auth answered)
  refused: false, // the edit key this browser holds was refused
  pending: null, // a page or view asked for and not answered yet (see ask)
  asUploaded: new Map(), // by version: whether its upload had a header row
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

const ERRORS = {
  not_text: "This does not look like a table: the file holds binary data. Choose a TSV or CSV file.",
  empty_file: "This file is empty: there are no rows to show.",
  bad_table: "This file could not be read as a table.",
  cell_too_large: "A cell in this file is too long to be read (is a quote never closed?).",
  bad_option: "The file could not be read with these options.",
  upload_size_mismatch: "The file changed while it was being uploaded. Try again.",
  connection_lost: "The connection was lost during the upload. Try again.",
  message_too_large: "The browser sent a piece of the file larger than the server accepts.",
  shutting_down: "The server is restarting. Try again in a moment.",
  no_upload: "The upload was interrupted. Try again.",
  edit_key_required: "You have a view link: only someone with the edit link can upload to this table.",
  wrong_edit_key: "This edit link does not open this table. You can still view it.",
  rate_limited: "Slow down: too many page turns at once.",
  version_not_found: "That version is no longer there.",
  storage_full: "The server has no room for this table right now. Try again later.",
};

function explain(code, fallback) {
  if (code === "too_large") {
    return state.limits
      ? `This file is larger than the ${bytes(state.limits.max_upload_bytes)} limit.`
      : "This file is larger than the server accepts.";
  }
  return ERRORS[code] || fallback || "Something went wrong.";
}

// Views

function show(view) {
  for (const id of ["empty", "waiting", "missing", "document"]) $(id).hidden = id !== view;
}

function showAlert(text) {
  const unchanged = hasVersion() ? " The table is unchanged." : "";
  const sentence = /[.!?…]$/.test(text) ? text : `${text}.`; // the server's messages end bare
  $("alert-text").textContent = sentence + unchanged;
  $("alert").hidden = false;
}

function hasVersion() {
  return Boolean(state.page && state.page.version !== null);
}

let noticeTimer = null;
function showNotice(text) {
  $("notice").textContent = text;
  $("notice").hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    $("notice").hidden = true;
  }, 6000);
}

const STATUS = {
  idle: "Offline",
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  closed: "Offline",
  missing: "Not found",
  full: "Server full",
};

let countdown = null;
function renderStatus({ state: connectionState, retryIn }) {
  const status = $("status");
  status.hidden = false;
  status.dataset.state = connectionState;
  clearInterval(countdown);
  const say = (text) => {
    $("status-text").textContent = text;
    $("offline-text").textContent = text;
  };
  if (connectionState === "reconnecting" && retryIn) {
    // counted down, so that a long wait is seen to be a wait
    const at = performance.now() + retryIn;
    const tick = () => say(`Reconnecting in ${Math.max(1, Math.round((at - performance.now()) / 1000))} s…`);
    tick();
    countdown = setInterval(tick, 1000);
  } else {
    say(STATUS[connectionState]);
  }
  renderOnline();
}

// Lost connection: said over the table, and what cannot work without it is disabled until
// it is back (a file dropped meanwhile waits for it: see upload).
function isOffline() {
  return Boolean(state.connection) && state.connection.state === "reconnecting";
}

const NEED_CONNECTION = ["file", "search", "header-toggle", "clear-view", "follow", "group-alone"];

function renderOnline() {
  const offline = isOffline();
  $("offline").hidden = !offline;
  document.body.classList.toggle("offline", offline);
  for (const id of NEED_CONNECTION) $(id).disabled = offline;
  for (const control of $("table").tHead.querySelectorAll("button, input")) control.disabled = offline;
  const page = shownPage();
  if (page && page.version !== null) renderPager(page);
  $("drop-text").textContent = offline ? "Drop to upload once the connection is back" : "Drop to upload";
}

function renderPager(page) {
  const offline = isOffline();
  $("first").disabled = $("prev").disabled = offline || page.page_no <= 1;
  $("next").disabled = $("last").disabled = offline || page.page_no >= page.page_count;
  $("page").disabled = offline;
}

// An edit key sent and not answered yet: this viewer may well be an editor.
function checkingAccess() {
  return !state.access.settled && Boolean(state.editKey);
}

// Whether files may be offered: on a new table, and to editors (or while an edit key this
// browser holds is being checked); never on a view link.
function mayUpload() {
  if (document.body.dataset.missing === "true") return false;
  if (!state.url) return !document.body.dataset.document || Boolean(state.editKey);
  return state.edit || checkingAccess();
}

// What this viewer may do: a view link browses; an edit link also uploads and leads. The
// links are offered once there is a table to share.
function renderAccess() {
  const viewOnly = Boolean(state.url) && !state.edit && !checkingAccess();
  $("read-only").hidden = !viewOnly;
  $("choose").hidden = !mayUpload();
  $("copy-link").hidden = !(state.url && hasVersion());
  $("copy-edit-link").hidden = !(state.url && hasVersion() && state.edit && state.editKey);
}

function renderPage(page) {
  if (page.view && page.view.header === null) state.asUploaded.set(page.version, page.has_header);
  $("doc-title").hidden = page.version === null && state.edit;
  $("filename").textContent = page.filename || "Untitled table";
  $("version").textContent = page.version === null ? "" : `version ${page.version}`;
  // the tab says which table, and which version when it is an old one being looked at
  const name = page.name || page.filename || "Untitled table";
  document.title =
    page.version === null ? "tablecast" : state.old ? `${name} (version ${page.version})` : name;
  renderAccess();
  if (page.version === null) {
    show(mayUpload() ? "empty" : "waiting");
    return;
  }
  show("document");
  const last = page.first_row + page.data.length - 1;
  const what = isSearch(page.view) ? " matching" : "";
  $("range").textContent =
    page.total_number === 0
      ? `No${what} rows`
      : `Rows ${count(page.first_row)}–${count(last)} of ${count(page.total_number)}${what}`;
  const ragged = page.ragged_rows || 0;
  $("ragged").hidden = ragged === 0;
  const headed = page.view && page.view.header != null ? page.view.header : page.has_header;
  const against = headed ? "the header" : "the first row";
  $("ragged").textContent = `${plural(ragged, "row has", "rows have")} more or fewer cells than ${against}`;
  $("page").value = page.page_no;
  $("page").max = page.page_count;
  $("pages").textContent = count(page.page_count);
  const typesKey = `${page.version}:${page.has_header}`;
  if (page.types) state.types.set(typesKey, page.types);
  renderTable($("table"), page, state.types.get(typesKey) || null, {
    sort: (column) => changeView(nextSort(currentView(), column)),
    filter: (column, text) => changeView(withFilter(currentView(), column, text)),
  });
  renderViewBar(page, {
    oldVersion: state.old && state.old.version,
    following: state.follow && !state.old && page.shared === true,
    edit: state.edit,
    me: state.name,
    asUploaded: state.asUploaded.get(page.version),
  });
  renderOnline();
  renderPending();
}

// Asking for a page or a view: if its answer takes longer than BUSY_AFTER, the view bar
// says what is coming and the table is dimmed until it comes (or an error does); a sort
// shows its arrow at once. A newer request replaces an older one. `answers(page)` says
// whether a page is its answer; `view` is the view it asks for.
const BUSY_AFTER = 200; // ms

function ask(text, { view = null, answers = () => false } = {}) {
  // replacing a request already said to be slow: its successor is said at once
  const pending = { text, view, answers, shown: Boolean(state.pending && state.pending.shown) };
  state.pending = pending;
  setTimeout(() => {
    if (state.pending === pending) {
      pending.shown = true;
      renderPending();
    }
  }, BUSY_AFTER);
  renderPending();
  return pending;
}

function answered(pending = state.pending) {
  if (!pending || state.pending !== pending) return;
  state.pending = null;
  renderPending();
}

function renderPending() {
  const { pending } = state;
  const busy = Boolean(pending && pending.shown);
  $("busy").hidden = !busy;
  $("busy-text").textContent = busy ? pending.text : "";
  $("table-wrap").classList.toggle("busy", busy);
  $("table-wrap").setAttribute("aria-busy", String(busy));
  if (pending && pending.view) markSort($("table"), pending.view);
}

// What a view change is doing, in words: "Sorting by dep_delay ▼…"
function describeChange(from, to) {
  const page = shownPage();
  const columns = (page && page.columns) || [];
  const name = (column) => columns[column] ?? String(column);
  if (to.sort !== from.sort || (to.sort !== null && to.order !== from.order)) {
    if (to.sort === null) return "Back to file order…";
    return `Sorting by ${name(to.sort)} ${to.order === "desc" ? "▼" : "▲"}…`;
  }
  if (to.q !== from.q) return to.q ? `Searching for “${to.q}”…` : "Showing every row…";
  const changed = Object.keys({ ...from.filters, ...to.filters }).find(
    (column) => (from.filters[column] || "") !== (to.filters[column] || ""),
  );
  if (changed !== undefined) return `Filtering ${name(changed)}…`;
  if (to.header !== from.header) return "Switching the header row…";
  return "Updating the view…";
}

function shownPage() {
  return state.old ? state.old.page : state.page;
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
  const text = describeChange(from, view);
  if (state.old) {
    state.old.view = view;
    versions.show(1, text, view);
    return;
  }
  if (!state.connection || isOffline()) return;
  if (!state.edit && state.follow) setFollow(false); // a view link cannot lead the group
  sendView(view, text);
}

function sendView(view, text) {
  const { sort, order, q, filters, header } = view;
  const sent = state.connection.send({ type: "view", sort, order, q, filters, header, by: state.name });
  if (!sent) return;
  if (state.follow && state.edit) {
    // the group's view changes: its page 1 comes to every follower, or a newer view's does
    // when another editor's overtakes it (that one is said by someone else)
    ask(text, {
      view,
      answers: (page) =>
        page.cause === "version" ||
        (page.cause === "view" && Boolean(page.view) && (sameView(page.view, view) || page.view.by !== state.name)),
    });
  } else {
    ask(text, {
      view,
      answers: (page) =>
        page.cause === "version" || (page.cause === "request" && sameView(page.view || PLAIN, view)),
    });
  }
}

// The header switch: back to the table as uploaded is no view of its own.
function switchHeader(checked) {
  const page = shownPage();
  const uploaded = page ? state.asUploaded.get(page.version) : undefined;
  changeView({ header: checked === uploaded ? null : checked });
}

// One click from the group's view to the whole table, browsed on one's own.
function browseAlone() {
  if (!state.connection || isOffline()) return;
  state.follow = false;
  $("follow").checked = false;
  $("alone").hidden = false;
  state.ownPage = 1;
  state.connection.send({ type: "follow", follow: false });
  sendView({ ...PLAIN }, "Showing the whole table…");
}

function renderOthers() {
  const latest = [...state.others.values()].at(-1);
  $("others").hidden = !latest;
  if (!latest) return;
  const name = latest.filename || "a file";
  const progress = $("others-progress");
  if (latest.size) {
    const percent = Math.floor((100 * latest.received) / latest.size);
    $("others-text").textContent = `Someone is uploading ${name}: ${percent}%`;
    progress.value = percent;
  } else {
    $("others-text").textContent = `Someone is uploading ${name}: ${bytes(latest.received)}`;
    progress.removeAttribute("value");
  }
}

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
      $("viewers").hidden = false;
      $("viewers").textContent =
        message.viewers === 1 ? "Only you" : `${plural(message.viewers, "viewer", "viewers")}`;
      $("me").hidden = false;
      $("me").textContent = `you are ${state.name}`;
      break;
    case "upload_progress":
      if (state.upload && message.upload === state.upload.id) break;
      if (message.state === "receiving") state.others.set(message.upload, message);
      else state.others.delete(message.upload);
      renderOthers();
      break;
    case "access":
      state.edit = message.edit;
      state.refused = false;
      state.access.resolve();
      renderAccess();
      if (shownPage()) renderPage(shownPage());
      break;
    case "types":
      state.types.set(`${message.version}:${message.header}`, message.types);
      if (shownPage()) renderPage(shownPage());
      break;
    case "error":
      if (["view", "goto", "follow"].includes(message.request)) answered();
      if (message.request === "auth") {
        state.refused = message.code !== "rate_limited";
        if (state.refused) forgetEditKey();
        state.access.resolve();
        renderAccess();
        if (shownPage()) renderPage(shownPage());
      }
      if (message.code === "rate_limited") break; // a held-down arrow key: the page just waits
      if (!String(message.request).startsWith("upload")) showAlert(explain(message.code, message.message));
      break;
    default:
      break;
  }
}

function onHello(hello) {
  state.url = hello.url;
  state.limits = hello.limits;
  state.edit = hello.edit;
  if (hello.edit_key) {
    // we just created this document: its key is shown to us this once
    state.editKey = hello.edit_key;
    saveKey(hello.id, hello.edit_key);
  }
  if (!hello.edit && state.editKey) {
    // edit=false until the key is checked: a file chosen meanwhile waits for the answer
    if (state.access.settled) state.access = deferred();
    state.connection.send({ type: "auth", edit_key: state.editKey });
  } else {
    state.access.resolve();
  }
  renderAccess();
  if (!state.follow) {
    // back after a reconnect while browsing alone: the server starts everyone following, in
    // the plain view; this viewer's own view and page are asked for again
    state.connection.send({ type: "follow", follow: false });
    const own = state.page && state.page.view;
    if (own && !isPlain(own) && !state.page.shared) {
      const { sort, order, q, filters, header } = own;
      state.connection.send({ type: "view", sort, order, q, filters, header });
    }
    state.connection.send({ type: "goto", page: state.ownPage });
  }
}

function onPage(page) {
  if (!state.follow && page.cause === "join") return; // our own page is on its way
  const previous = state.page;
  if (page.cause === "version" && page.version !== null && (!previous || previous.version !== page.version)) {
    showNotice(`New version ${page.version} — ${plural(page.total_number, "row", "rows")}`);
    $("alert").hidden = true; // what it said was about the table before this one
  }
  state.page = page;
  if (!state.follow) state.ownPage = page.page_no;
  if (!state.old && state.pending && state.pending.answers(page)) answered();
  if (!state.old) renderPage(page);
}

// What the viewer does

function connect() {
  if (state.connection) return state.connection;
  const connection = new Connection(document.body.dataset.document);
  connection.addEventListener("message", onMessage);
  connection.addEventListener("state", (event) => {
    if (event.detail.state !== "open") {
      state.others.clear();
      renderOthers();
      // access is known again once the next hello (and the answer to its auth) says so
      if (state.access.settled) state.access = deferred();
      if (!state.old) answered(); // asked of a connection that is gone
    }
    renderStatus(event.detail);
    if (event.detail.state === "missing") showMissing();
  });
  state.connection = connection;
  connection.connect();
  return connection;
}

function goTo(pageNo) {
  const page = shownPage();
  const { connection } = state;
  if (!page || !connection || isOffline()) return;
  const target = Math.min(Math.max(1, pageNo), page.page_count);
  if (target === page.page_no) return;
  const text = `Loading page ${count(target)}…`;
  if (state.old) {
    versions.show(target, text);
    return;
  }
  // a view link cannot lead the group: turning a page means browsing on one's own
  if (!state.edit && state.follow) setFollow(false);
  if (!connection.send({ type: "goto", page: target })) return;
  const view = currentView();
  if (state.follow) {
    // turns are shown in the order the server makes them: the next one is the answer
    ask(text, { answers: (shown) => ["turn", "version", "view"].includes(shown.cause) });
  } else {
    ask(text, {
      answers: (shown) =>
        shown.cause === "version" ||
        (shown.cause === "request" && shown.page_no === target && sameView(shown.view || PLAIN, view)),
    });
  }
}

function forgetEditKey() {
  if (state.connection && state.connection.documentId) forgetKey(state.connection.documentId);
  state.editKey = null;
  renderAccess();
}

function setFollow(follow) {
  state.follow = follow;
  $("follow").checked = follow;
  $("alone").hidden = follow;
  if (!state.connection) return;
  if (!follow && state.page) state.ownPage = state.page.page_no;
  if (!state.connection.send({ type: "follow", follow })) return;
  if (follow && !state.old) {
    ask("Joining the group…", { answers: (page) => ["follow", "version"].includes(page.cause) });
  }
  if (!follow && state.page && !isPlain(state.page.view)) {
    // browsing on from the shared view: it becomes this viewer's own
    const { sort, order, q, filters, header } = state.page.view;
    state.connection.send({ type: "view", sort, order, q, filters, header });
  }
}

async function upload(file) {
  if (!file) return;
  if (state.upload) {
    // one upload at a time: the one on its way goes on, and this file is not dropped unsaid
    showAlert(`${file.name} was not uploaded: another file is on its way. Choose it again when that one is done.`);
    return;
  }
  $("alert").hidden = true;
  if (state.limits && file.size > state.limits.max_upload_bytes) {
    showAlert(explain("too_large"));
    return;
  }
  // Until the connection is open and what this viewer may do is known (after a reconnect,
  // its hello says edit=false until the edit key is checked again), the file waits.
  let cancel;
  const cancelled = new Promise((_, reject) => {
    cancel = () => reject(new UploadError("cancelled", "Upload cancelled."));
  });
  cancelled.catch(() => {}); // nobody may be waiting for it any more
  state.upload = { cancel };
  $("upload-name").textContent = file.name;
  $("upload-detail").textContent = isOffline()
    ? "Waiting for the connection: the upload starts when it is back"
    : `Starting… ${bytes(file.size)}`;
  $("upload-progress").value = 0;
  $("upload").hidden = false;
  const connection = connect();
  try {
    await Promise.race([connection.ready(), cancelled]);
    if (!state.access.settled) $("upload-detail").textContent = "Checking your edit link…";
    await Promise.race([state.access.promise, cancelled]);
  } catch (error) {
    state.upload = null;
    $("upload").hidden = true;
    if (error.code === "cancelled") return;
    showAlert(error.message === "full" ? explain("storage_full") : "Could not reach the server.");
    return;
  }
  if (file.size > state.limits.max_upload_bytes) {
    state.upload = null;
    $("upload").hidden = true;
    showAlert(explain("too_large"));
    return;
  }
  if (!state.edit) {
    state.upload = null;
    $("upload").hidden = true;
    showAlert(
      state.refused
        ? `This edit link does not open this table, so ${file.name} was not uploaded. You can still view it.`
        : explain("edit_key_required"),
    );
    return;
  }
  const job = new Upload(connection, file, { onProgress: renderUpload });
  state.upload = job;
  $("upload-detail").textContent = `Starting… ${bytes(file.size)}`;
  try {
    await job.run();
    const sharePath = `/parser/share/${connection.documentId}`;
    if (location.pathname !== sharePath) history.replaceState(null, "", sharePath);
    document.body.dataset.document = connection.documentId;
    renderAccess();
  } catch (error) {
    if (error.code !== "cancelled") showAlert(explain(error.code, error.message));
  } finally {
    state.upload = null;
    $("upload").hidden = true;
  }
}

function renderUpload({ acked, size, rate }) {
  const percent = size ? Math.floor((100 * acked) / size) : 100;
  $("upload-progress").value = percent;
  $("upload-detail").textContent =
    acked >= size
      ? `${bytes(size)} · finishing…`
      : `${bytes(acked)} of ${bytes(size)} · ${percent}% · ${bytes(rate)}/s`;
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
  button.dataset.label ||= button.textContent;
  button.textContent = "Copied";
  setTimeout(() => {
    button.textContent = button.dataset.label;
  }, 2000);
}

function isTyping(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target.isContentEditable;
}

function bindControls() {
  $("file").addEventListener("change", () => {
    upload($("file").files[0]);
    $("file").value = ""; // choosing the same file again is a new upload
  });
  $("cancel").addEventListener("click", () => state.upload && state.upload.cancel());
  $("copy-link").addEventListener("click", (event) => copyLink(event.currentTarget, state.url));
  $("copy-edit-link").addEventListener("click", (event) =>
    copyLink(event.currentTarget, editLink(state.url, state.editKey)),
  );
  $("alert-close").addEventListener("click", () => {
    $("alert").hidden = true;
  });
  $("reconnect").addEventListener("click", () => state.connection && state.connection.retryNow());
  $("follow").addEventListener("change", () => setFollow($("follow").checked));
  $("first").addEventListener("click", () => goTo(1));
  $("prev").addEventListener("click", () => shownPage() && goTo(shownPage().page_no - 1));
  $("next").addEventListener("click", () => shownPage() && goTo(shownPage().page_no + 1));
  $("last").addEventListener("click", () => shownPage() && goTo(shownPage().page_count));
  bindViewBar({ change: changeView, header: switchHeader, alone: browseAlone });
  $("versions-button").addEventListener("click", () => versions.toggle());
  $("back-live").addEventListener("click", () => versions.backToLive());
  $("page").addEventListener("change", () => goTo(Number.parseInt($("page").value, 10) || 1));
  document.addEventListener("keydown", (event) => {
    const page = shownPage();
    if (isTyping(event.target) || event.altKey || event.ctrlKey || event.metaKey || !page) return;
    if (event.key === "ArrowRight") goTo(page.page_no + 1);
    else if (event.key === "ArrowLeft") goTo(page.page_no - 1);
    else return;
    event.preventDefault();
  });
  bindDrop();
}

// Files are offered to those who may upload them: a view link's page takes no drop (and the
// browser is kept from opening the file instead).
function bindDrop() {
  const overlay = $("drop");
  let depth = 0; // dragenter/dragleave fire for every child crossed
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  window.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    overlay.hidden = !mayUpload();
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  window.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    if (!mayUpload()) event.dataTransfer.dropEffect = "none";
  });
  window.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    overlay.hidden = true;
    if (mayUpload()) upload(event.dataTransfer.files[0]);
  });
}

function showMissing() {
  show("missing");
  $("choose").hidden = true; // uploads start from a new table, not a missing one
}

const versions = new Versions({ state, renderPage, showAlert, showNotice, explain, ask, answered });

function start() {
  if (document.body.dataset.missing === "true") {
    showMissing();
    return;
  }
  bindControls();
  const documentId = document.body.dataset.document;
  if (documentId) {
    const linkKey = takeKeyFromLink();
    if (linkKey) saveKey(documentId, linkKey);
    state.editKey = linkKey || savedKey(documentId);
    if (state.editKey) state.access = deferred(); // checked once the connection is open
    $("choose").hidden = !state.editKey; // until hello says what this viewer may do
  }
  if (documentId) {
    connect(); // a share link: join at once
  } else {
    show("empty"); // a new table: connect when there is a file to send
  }
}

start();
