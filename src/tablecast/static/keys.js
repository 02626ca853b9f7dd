// Edit keys. An edit link carries its document's key in the fragment (#key=...), which the
// browser never sends to the server. The page takes it out of the address bar at once (so
// what is copied from there, or left in the history, is a view link) and keeps it in this
// browser, per document, so that a reload still edits.

const PREFIX = "tablecast:edit-key:";
const memory = new Map(); // when storage is unavailable (some private windows)

export function takeKeyFromLink() {
  const match = location.hash.match(/(?:^#|&)key=([A-Za-z0-9_-]+)/);
  if (!match) return null;
  history.replaceState(history.state, "", location.pathname + location.search);
  return match[1];
}

export function savedKey(documentId) {
  try {
    return localStorage.getItem(PREFIX + documentId) || memory.get(documentId) || null;
  } catch {
    return memory.get(documentId) || null;
  }
}

export function saveKey(documentId, key) {
  memory.set(documentId, key);
  try {
    localStorage.setItem(PREFIX + documentId, key);
  } catch {
    // kept in memory for this page only
  }
}

export function forgetKey(documentId) {
  memory.delete(documentId);
  try {
    localStorage.removeItem(PREFIX + documentId);
  } catch {
    // nothing kept
  }
}

export function editLink(viewLink, key) {
  return `${viewLink}#key=${key}`;
}
