// The tablecast page: drop a file, watch it upload, share the link, browse the table together.

import { Connection } from "./connection.js";
import { bytes, count, plural } from "./format.js";
import { editLink, forgetKey, savedKey, saveKey, takeKeyFromLink } from "./keys.js";
import { renderTable } from "./table.js";
import { Upload } from "./upload.js";
import { Versions } from "./versions.js";
import { PLAIN, bindViewBar, isPlain, myName, nextSort, renderViewBar, withFilter } from "./views.js";

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
};

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
  const unchanged = state.page && state.page.version !== null ? " The table is unchanged." : "";
  $("alert-text").textContent = text + unchanged;
  $("alert").hidden = false;
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

function renderStatus({ state: connectionState, retryIn }) {
  const status = $("status");
  status.hidden = false;
  status.dataset.state = connectionState;
  $("status-text").textContent =
    connectionState === "reconnecting" && retryIn
      ? `Reconnecting in ${Math.max(1, Math.round(retryIn / 1000))} s…`
      : STATUS[connectionState];
}

// What this viewer may do: a view link browses; an edit link also uploads and leads.
function renderAccess() {
  const viewOnly = !state.edit && Boolean(state.url);
  $("read-only").hidden = !viewOnly;
  $("choose").hidden = viewOnly || document.body.dataset.missing === "true";
  $("copy-link").hidden = !state.url;
  $("copy-edit-link").hidden = !(state.url && state.edit && state.editKey);
}

function renderPage(page) {
  $("doc-title").hidden = page.version === null && state.edit;
  $("filename").textContent = page.filename || "Untitled table";
  $("version").textContent = page.version === null ? "" : `version ${page.version}`;
  renderAccess();
  if (page.version === null) {
    show(state.edit ? "empty" : "waiting");
    return;
  }
  show("document");
  const last = page.first_row + page.data.length - 1;
  const what = isPlain(page.view) ? "" : " matching";
  $("range").textContent =
    page.total_number === 0
      ? `No${what} rows`
      : `Rows ${count(page.first_row)}–${count(last)} of ${count(page.total_number)}${what}`;
  const ragged = page.ragged_rows || 0;
  $("ragged").hidden = ragged === 0;
  $("ragged").textContent = `${plural(ragged, "row has", "rows have")} more or fewer cells than the header`;
  $("page").value = page.page_no;
  $("page").max = page.page_count;
  $("pages").textContent = count(page.page_count);
  $("first").disabled = $("prev").disabled = page.page_no <= 1;
  $("next").disabled = $("last").disabled = page.page_no >= page.page_count;
  const typesKey = `${page.version}:${page.has_header}`;
  if (page.types) state.types.set(typesKey, page.types);
  renderTable($("table"), page, state.types.get(typesKey) || null, {
    sort: (column) => changeView(nextSort(currentView(), column)),
    filter: (column, text) => changeView(withFilter(currentView(), column, text)),
  });
  renderViewBar(page, state.old && state.old.version);
}

function shownPage() {
  return state.old ? state.old.page : state.page;
}

function currentView() {
  const page = shownPage();
  return { ...PLAIN, ...((page && page.view) || {}) };
}

// Sort, search, filter, switch the header: for the group when leading it, else on one's own.
function changeView(changes) {
  const view = { ...currentView(), ...changes };
  if (state.old) {
    state.old.view = view;
    versions.show(1);
    return;
  }
  if (!state.connection) return;
  if (!state.edit && state.follow) setFollow(false); // a view link cannot lead the group
  const { sort, order, q, filters, header } = view;
  state.connection.send({ type: "view", sort, order, q, filters, header, by: state.name });
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
      break;
    case "upload_progress":
      if (state.upload && message.upload === state.upload.id) break;
      if (message.state === "receiving") state.others.set(message.upload, message);
      else state.others.delete(message.upload);
      renderOthers();
      break;
    case "access":
      state.edit = message.edit;
      renderAccess();
      break;
    case "types":
      state.types.set(`${message.version}:${message.header}`, message.types);
      if (shownPage()) renderPage(shownPage());
      break;
    case "error":
      if (message.code === "rate_limited") break; // a held-down arrow key: the page just waits
      if (message.request === "auth") forgetEditKey();
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
  } else if (!hello.edit && state.editKey) {
    state.connection.send({ type: "auth", edit_key: state.editKey });
  }
  renderAccess();
  if (!state.follow) {
    // back after a reconnect while browsing alone: the server starts everyone following
    state.connection.send({ type: "follow", follow: false });
    state.connection.send({ type: "goto", page: state.ownPage });
  }
}

function onPage(page) {
  if (!state.follow && page.cause === "join") return; // our own page is on its way
  const previous = state.page;
  if (page.cause === "version" && page.version !== null && (!previous || previous.version !== page.version)) {
    showNotice(`New version ${page.version} — ${plural(page.total_number, "row", "rows")}`);
  }
  state.page = page;
  if (!state.follow) state.ownPage = page.page_no;
  if (!state.old) renderPage(page);
}

// What the viewer does

function connect() {
  if (state.connection) return state.connection;
  const connection = new Connection(document.body.dataset.document);
  connection.addEventListener("message", onMessage);
  connection.addEventListener("state", (event) => {
    renderStatus(event.detail);
    if (event.detail.state === "missing") showMissing();
    if (event.detail.state !== "open") {
      state.others.clear();
      renderOthers();
    }
  });
  state.connection = connection;
  connection.connect();
  return connection;
}

function goTo(pageNo) {
  const page = shownPage();
  const { connection } = state;
  if (!page || !connection) return;
  const target = Math.min(Math.max(1, pageNo), page.page_count);
  if (target === page.page_no) return;
  if (state.old) {
    versions.show(target);
    return;
  }
  // a view link cannot lead the group: turning a page means browsing on one's own
  if (!state.edit && state.follow) setFollow(false);
  connection.send({ type: "goto", page: target });
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
  state.connection.send({ type: "follow", follow });
  if (!follow && state.page && !isPlain(state.page.view)) {
    // browsing on from the shared view: it becomes this viewer's own
    const { sort, order, q, filters, header } = state.page.view;
    state.connection.send({ type: "view", sort, order, q, filters, header });
  }
}

async function upload(file) {
  if (!file || state.upload) return;
  $("alert").hidden = true;
  if (state.limits && file.size > state.limits.max_upload_bytes) {
    showAlert(explain("too_large"));
    return;
  }
  const connection = connect();
  try {
    await connection.ready();
  } catch (error) {
    showAlert(error.message === "full" ? explain("storage_full") : "Could not reach the server.");
    return;
  }
  if (file.size > state.limits.max_upload_bytes) {
    showAlert(explain("too_large"));
    return;
  }
  if (!state.edit) {
    showAlert(explain("edit_key_required"));
    return;
  }
  const job = new Upload(connection, file, { onProgress: renderUpload });
  state.upload = job;
  $("upload-name").textContent = file.name;
  $("upload-detail").textContent = `Starting… ${bytes(file.size)}`;
  $("upload-progress").value = 0;
  $("upload").hidden = false;
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
  $("follow").addEventListener("change", () => setFollow($("follow").checked));
  $("first").addEventListener("click", () => goTo(1));
  $("prev").addEventListener("click", () => shownPage() && goTo(shownPage().page_no - 1));
  $("next").addEventListener("click", () => shownPage() && goTo(shownPage().page_no + 1));
  $("last").addEventListener("click", () => shownPage() && goTo(shownPage().page_count));
  bindViewBar(changeView);
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

function bindDrop() {
  const overlay = $("drop");
  let depth = 0; // dragenter/dragleave fire for every child crossed
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  window.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    overlay.hidden = false;
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  window.addEventListener("dragover", (event) => {
    if (hasFiles(event)) event.preventDefault();
  });
  window.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    overlay.hidden = true;
    upload(event.dataTransfer.files[0]);
  });
}

function showMissing() {
  show("missing");
  $("choose").hidden = true; // uploads start from a new table, not a missing one
}

const versions = new Versions({ state, renderPage, showAlert, showNotice, explain });

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
    $("choose").hidden = !state.editKey; // until hello says what this viewer may do
  }
  if (documentId) {
    connect(); // a share link: join at once
  } else {
    show("empty"); // a new table: connect when there is a file to send
  }
}

start();
