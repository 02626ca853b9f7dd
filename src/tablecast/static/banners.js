// What is said over the table: an alert (an error, until dismissed or a new version), a
// notice (for a few seconds), the offline banner, someone else's upload, and the banner of an
// old version being looked at.

import { $ } from "./dom.js";

const NOTICE_FOR = 6000; // ms: long enough to read a sentence

export function showAlert(text) {
  $("alert-text").textContent = text;
  $("alert").hidden = false;
}

export function hideAlert() {
  $("alert").hidden = true;
}

let noticeTimer = null;
export function showNotice(text) {
  $("notice").textContent = text;
  $("notice").hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    $("notice").hidden = true;
  }, NOTICE_FOR);
}

// online: model.online. Offline, the banner shows and the page is marked (the stylesheet
// greys what cannot work without the connection).
export function renderOffline({ offline, dropText }) {
  $("offline").hidden = !offline;
  document.body.classList.toggle("offline", offline);
  $("drop-text").textContent = dropText;
}

// upload: model.othersUpload (null: nobody else is uploading)
export function renderOthers(upload) {
  $("others").hidden = !upload;
  if (!upload) return;
  $("others-text").textContent = upload.text;
  if (upload.percent === null) $("others-progress").removeAttribute("value");
  else $("others-progress").value = upload.percent;
}

// banner: model.oldBanner (null: the live table)
export function renderOldBanner(banner) {
  $("old-banner").hidden = !banner;
  if (banner) $("old-number").textContent = banner.version;
}
