// What goes over the wire between this app and the server, named as the server names it
// (tablecast/web/connection.py, tablecast/wire/websocket.py; docs/protocol.md lists them all),
// so that a code read here can be searched for there.

export const PROTOCOL = "tablecast.v1"; // the WebSocket subprotocol this app speaks

// WebSocket close codes
export const NORMAL = 1000;
export const GOING_AWAY = 1001; // the server is stopping: reconnect
export const POLICY = 1008;
export const CLOSE_NO_DOCUMENT = 4404; // no such document: reconnecting cannot help
export const CLOSE_TOO_SLOW = 4008; // this viewer left too much unread: reconnect
export const CLOSE_STORAGE_FULL = 4507; // no room for a new document: retrying would only fill the log
// The app's own, closing a link that no longer answers its pings (a code the server never
// sends, so that it reads as ours in a trace)
export const CLOSE_NO_PONG = 4000;

// An upload's messages: an error answering one of these requests is the upload's; the
// replies are what its sender waits for, in order
export const UPLOAD_REQUESTS = new Set(["upload_begin", "upload_chunk", "upload_end", "upload_cancel"]);
export const UPLOAD_REPLIES = new Set(["upload_ready", "upload_ack", "upload_done"]);

// Paths
export const WS_PATH = "/parser/ws"; // a new document; `${WS_PATH}/${id}` joins one
export const API_PATH = "/parser/api/docs";
export const SHARE_PATH = "/parser/share";

export function socketPath(documentId) {
  return documentId ? `${WS_PATH}/${documentId}` : WS_PATH;
}

export function sharePath(documentId) {
  return `${SHARE_PATH}/${documentId}`;
}
