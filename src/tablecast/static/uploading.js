// One's own upload: the file's name, how far it is, and Cancel.

import { $ } from "./dom.js";

export function showUpload(filename, detail) {
  $("upload-name").textContent = filename;
  $("upload-detail").textContent = detail;
  $("upload-progress").value = 0;
  $("upload").hidden = false;
}

export function sayUpload(detail) {
  $("upload-detail").textContent = detail;
}

// progress: model.uploadProgress
export function renderUploadProgress({ percent, text }) {
  $("upload-progress").value = percent;
  $("upload-detail").textContent = text;
}

export function hideUpload() {
  $("upload").hidden = true;
}
