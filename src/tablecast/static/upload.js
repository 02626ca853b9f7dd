// A file sent to the server in chunks over the document's connection (tablecast.v1):
// upload_begin, then Blob.slice after Blob.slice, never more than the server's window of
// chunks unacknowledged (so neither the tab nor the server holds the file), then upload_end.

import { UPLOAD_REPLIES, UPLOAD_REQUESTS } from "./wire.js";

export class UploadError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const lostError = () => new UploadError("connection_lost", "The connection was lost during the upload.");


export class Upload {
  // onProgress({sent, acked, size, rate}) is called as acknowledgements arrive.
  constructor(connection, file, { onProgress = () => {} } = {}) {
    this.connection = connection;
    this.file = file;
    this.onProgress = onProgress;
    this.id = null;
    this.acked = 0;
    this.cancelled = false;
    this.waiters = [];
    this.inbox = []; // replies that came while nobody waited for them: none may be lost
    this.failure = null;
    this.started = performance.now();
    this.onMessage = (event) => this.receive(event.detail);
    this.onState = (event) => {
      if (event.detail.state !== "open") this.fail(lostError());
    };
  }

  // Resolves with upload_done ({version, total_number}); rejects with an UploadError.
  async run() {
    const { connection, file } = this;
    connection.addEventListener("message", this.onMessage);
    connection.addEventListener("state", this.onState);
    try {
      this.send({ type: "upload_begin", filename: file.name, size: file.size });
      const ready = await this.next("upload_ready");
      this.id = ready.upload;
      const chunk = ready.chunk_bytes;
      let inFlight = 0;
      for (let offset = 0; offset < file.size; offset += chunk) {
        while (inFlight >= ready.window) {
          await this.next("upload_ack");
          inFlight -= 1;
        }
        this.check();
        // Only this slice is read into memory; the rest of the file stays on disk.
        const buffer = await file.slice(offset, offset + chunk).arrayBuffer();
        this.check();
        if (!connection.sendBinary(buffer)) this.lost();
        inFlight += 1;
      }
      while (inFlight > 0) {
        await this.next("upload_ack");
        inFlight -= 1;
      }
      this.check();
      this.send({ type: "upload_end" });
      return await this.next("upload_done");
    } finally {
      connection.removeEventListener("message", this.onMessage);
      connection.removeEventListener("state", this.onState);
    }
  }

  cancel() {
    if (this.cancelled || this.failure) return;
    this.cancelled = true;
    this.connection.send({ type: "upload_cancel" });
    this.fail(new UploadError("cancelled", "Upload cancelled."));
  }

  check() {
    if (this.failure) throw this.failure;
  }

  send(message) {
    if (!this.connection.send(message)) this.lost();
  }

  lost() {
    this.fail(lostError());
    this.check();
  }

  // The next reply of a type, in order.
  next(type) {
    this.check();
    const index = this.inbox.findIndex((m) => m.type === type);
    if (index >= 0) return Promise.resolve(this.inbox.splice(index, 1)[0]);
    return new Promise((resolve, reject) => this.waiters.push({ type, resolve, reject }));
  }

  receive(message) {
    if (message.type === "upload_ack") {
      this.acked = message.received;
      const seconds = (performance.now() - this.started) / 1000;
      this.onProgress({
        acked: this.acked,
        size: this.file.size,
        rate: seconds > 0 ? this.acked / seconds : 0,
      });
    }
    if (message.type === "error" && UPLOAD_REQUESTS.has(message.request)) {
      this.fail(new UploadError(message.code, message.message));
      return;
    }
    if (!UPLOAD_REPLIES.has(message.type)) return;
    const index = this.waiters.findIndex((w) => w.type === message.type);
    if (index >= 0) this.waiters.splice(index, 1)[0].resolve(message);
    else this.inbox.push(message);
  }

  fail(error) {
    if (this.failure) return;
    this.failure = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}
