// Sending one's file: it waits for the connection and for what this viewer may do to be
// known, then goes in chunks (upload.js) while its progress shows; the address becomes the
// share link once it is in.

import { hideAlert } from "./banners.js";
import * as model from "./model.js";
import { explain, renderAccess, sayAlert } from "./render.js";
import * as change from "./state.js";
import { state } from "./state.js";
import { Upload, UploadError } from "./upload.js";
import { hideUpload, renderUploadProgress, sayUpload, showUpload } from "./uploading.js";
import { sharePath } from "./wire.js";

// The address bar becomes the document's share link once it has a table: when its upload is
// done, or at its first page, whichever comes first (on a cluster the page, fanned out from
// the store's notice, can come up to a second before the uploader is told its upload is done,
// and a link copied from the address bar meanwhile must already be the share link).
export function showShareLink(documentId) {
  const path = sharePath(documentId);
  if (location.pathname !== path) history.replaceState(null, "", path);
  document.body.dataset.document = documentId;
}

// connect(): the document's connection, opened if need be.
export async function sendFile(file, connect) {
  if (!file) return;
  if (state.upload) {
    // one upload at a time: the one on its way goes on, and this file is not dropped unsaid
    sayAlert(model.uploadBusy(file.name));
    return;
  }
  hideAlert();
  if (state.limits && file.size > state.limits.max_upload_bytes) {
    sayAlert(explain("too_large"));
    return;
  }
  // Until the connection is open and what this viewer may do is known (after a reconnect,
  // its hello says edit=false until the edit key is checked again), the file waits.
  let cancel;
  const cancelled = new Promise((_, reject) => {
    cancel = () => reject(new UploadError("cancelled", "Upload cancelled."));
  });
  cancelled.catch(() => {}); // nobody may be waiting for it any more
  change.uploadStarted({ cancel });
  showUpload(file.name, model.uploadStarting(file.size, { offline: model.isOffline(state) }));
  const connection = connect();
  const given = (text) => {
    change.uploadEnded();
    hideUpload();
    if (text) sayAlert(text);
  };
  try {
    await Promise.race([connection.ready(), cancelled]);
    if (!state.access.settled) sayUpload(model.uploadStarting(file.size, { checking: true }));
    await Promise.race([state.access.promise, cancelled]);
  } catch (error) {
    if (error.code === "cancelled") given(null);
    else given(error.message === "full" ? explain("storage_full") : "Could not reach the server.");
    return;
  }
  if (file.size > state.limits.max_upload_bytes) {
    given(explain("too_large"));
    return;
  }
  if (!state.edit) {
    given(model.uploadRefused(file.name, state.refused));
    return;
  }
  const job = new Upload(connection, file, { onProgress: (progress) => renderUploadProgress(model.uploadProgress(progress)) });
  change.uploadStarted(job);
  sayUpload(model.uploadStarting(file.size));
  try {
    await job.run();
    showShareLink(connection.documentId);
    renderAccess();
  } catch (error) {
    if (error.code !== "cancelled") sayAlert(explain(error.code, error.message));
  } finally {
    change.uploadEnded();
    hideUpload();
  }
}
