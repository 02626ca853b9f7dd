// The bar at the top: the table's name and version, the workbook's sheet (a select for
// editors), what this viewer may do (view only, the links to copy, Choose file), how many
// watch, and the connection's status.

import { $ } from "./dom.js";

// titles: model.titles
export function renderTitles({ hidden, filename, version, tab }) {
  $("doc-title").hidden = hidden;
  $("filename").textContent = filename;
  $("version").textContent = version;
  document.title = tab;
}

// what: model.access
export function renderAccess({ readOnly, choose, copyLink, copyEditLink }) {
  $("read-only").hidden = !readOnly;
  $("choose").hidden = !choose;
  $("copy-link").hidden = !copyLink;
  $("copy-edit-link").hidden = !copyEditLink;
}

// sheet: model.sheetSwitch. The options are made again only when the sheets change (a select
// made anew under the pointer would close); a select that had the focus when it was disabled
// (a sheet being read) takes it back when enabled, unless it went elsewhere meanwhile.
let focusedWhenDisabled = false;
export function renderSheet({ shown, editable, sheets, selected, disabled, text, reading }) {
  $("sheet").hidden = !shown;
  $("sheet-pick").hidden = !(shown && editable);
  $("sheet-name").hidden = !shown || editable;
  $("sheet-name").textContent = text;
  $("sheet-reading").textContent = reading;
  const select = $("sheet-select");
  const listed = JSON.stringify(sheets);
  if (select.dataset.sheets !== listed) {
    select.replaceChildren(...sheets.map((sheet) => new Option(sheet, sheet)));
    select.dataset.sheets = listed;
  }
  select.value = selected;
  if (disabled && !select.disabled) focusedWhenDisabled = document.activeElement === select;
  const enabled = select.disabled && !disabled;
  select.disabled = disabled;
  if (enabled && focusedWhenDisabled && shown && editable && document.activeElement === document.body) select.focus();
  if (!disabled) focusedWhenDisabled = false;
}

// Until hello says what this viewer may do, only a held edit key offers files.
export function offerFiles(offered) {
  $("choose").hidden = !offered;
}

// presence: model.presence
export function renderPresence({ viewers, me }) {
  $("viewers").hidden = false;
  $("viewers").textContent = viewers;
  $("me").hidden = false;
  $("me").textContent = me;
}

// The status badge, and the same words in the offline banner.
export function renderStatus(connectionState, text) {
  $("status").hidden = false;
  $("status").dataset.state = connectionState;
  $("status-text").textContent = text;
  $("offline-text").textContent = text;
}

// A button that copied says so for a moment.
export function sayCopied(button) {
  button.dataset.label ||= button.textContent;
  button.textContent = "Copied";
  setTimeout(() => {
    button.textContent = button.dataset.label;
  }, 2000);
}
