// One's file sent in chunks (src/tablecast/static/upload.js), against a connection that
// records what is sent: never more than the server's window unacknowledged, and every way it
// can end. No browser, no socket.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Upload } from "../../src/tablecast/static/upload.js";

// A connection as upload.js uses it: what it sends, and its listeners to feed.
function fakeConnection() {
  const listeners = { message: new Set(), state: new Set() };
  return {
    sent: [], // messages, and chunks as byte counts
    open: true,
    send(message) {
      if (this.open) this.sent.push(message);
      return this.open;
    },
    sendBinary(buffer) {
      if (this.open) this.sent.push(buffer.byteLength);
      return this.open;
    },
    addEventListener: (type, listener) => listeners[type].add(listener),
    removeEventListener: (type, listener) => listeners[type].delete(listener),
    hear(message) {
      for (const listener of [...listeners.message]) listener({ detail: message });
    },
    change(state) {
      for (const listener of [...listeners.state]) listener({ detail: { state } });
    },
    listening: () => listeners.message.size + listeners.state.size,
  };
}

// Until the upload waits for a reply of this type (it has sent all it may meanwhile).
async function waitingFor(upload, type) {
  for (let turn = 0; turn < 1000; turn += 1) {
    if (upload.waiters.some((waiter) => waiter.type === type)) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.fail(`the upload never waited for ${type}`);
}

const file = (size) => Object.assign(new Blob([new Uint8Array(size)]), { name: "t.csv" });

test("chunks go no more than the window ahead of the acknowledgements", async () => {
  const connection = fakeConnection();
  const progress = [];
  const upload = new Upload(connection, file(10), { onProgress: (p) => progress.push(p.acked) });
  const done = upload.run();
  assert.deepEqual(connection.sent, [{ type: "upload_begin", filename: "t.csv", size: 10 }]);
  connection.hear({ type: "upload_ready", upload: "u1", chunk_bytes: 4, window: 2 });
  await waitingFor(upload, "upload_ack");
  assert.deepEqual(connection.sent.slice(1), [4, 4]); // the window: two chunks, then it waits
  connection.hear({ type: "upload_ack", received: 4 });
  await waitingFor(upload, "upload_ack");
  assert.deepEqual(connection.sent.slice(1), [4, 4, 2]);
  connection.hear({ type: "upload_ack", received: 8 });
  connection.hear({ type: "upload_ack", received: 10 });
  await waitingFor(upload, "upload_done");
  assert.deepEqual(connection.sent.at(-1), { type: "upload_end" });
  connection.hear({ type: "upload_done", version: 1, total_number: 3 });
  assert.deepEqual(await done, { type: "upload_done", version: 1, total_number: 3 });
  assert.deepEqual(progress, [4, 8, 10]);
  assert.equal(connection.listening(), 0); // it stops listening once done
});

test("a refusal of a chunk ends the upload with the server's code", async () => {
  const connection = fakeConnection();
  const upload = new Upload(connection, file(10));
  const done = upload.run();
  connection.hear({ type: "upload_ready", upload: "u1", chunk_bytes: 4, window: 8 });
  connection.hear({ type: "error", request: "upload_chunk", code: "not_text", message: "binary" });
  await assert.rejects(done, { code: "not_text" });
});

test("a connection lost mid-upload ends it as lost", async () => {
  const connection = fakeConnection();
  const upload = new Upload(connection, file(10));
  const done = upload.run();
  connection.hear({ type: "upload_ready", upload: "u1", chunk_bytes: 4, window: 1 });
  await waitingFor(upload, "upload_ack");
  connection.open = false;
  connection.change("reconnecting");
  await assert.rejects(done, { code: "connection_lost" });
});

test("cancelling says so to the server once", async () => {
  const connection = fakeConnection();
  const upload = new Upload(connection, file(10));
  const done = upload.run();
  upload.cancel();
  upload.cancel();
  await assert.rejects(done, { code: "cancelled" });
  assert.deepEqual(connection.sent.filter((m) => m.type === "upload_cancel").length, 1);
});
