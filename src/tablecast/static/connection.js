// One WebSocket to one document, speaking tablecast.v1, that keeps itself alive: if the
// connection drops it reconnects with exponential backoff and jitter, to the same document.
//
// Events: "message" (detail: the decoded message) and "state" (detail: {state, retryIn}),
// where state is idle, connecting, open, reconnecting, missing (no such document), full (the
// server has no room for a new document) or closed.

import { CLOSE_NO_DOCUMENT, CLOSE_NO_PONG, CLOSE_STORAGE_FULL, NORMAL, PROTOCOL, socketPath } from "./wire.js";

const BACKOFF_FIRST = 500; // ms
const BACKOFF_MAX = 15000;
const PING_EVERY = 20000; // a browser cannot send WebSocket pings; these find dead links
const PONG_WITHIN = 10000;

export class Connection extends EventTarget {
  constructor(documentId) {
    super();
    this.documentId = documentId || null;
    this.state = "idle";
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
  }

  get url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${socketPath(this.documentId)}`;
  }

  get isOpen() {
    return this.state === "open";
  }

  get bufferedAmount() {
    return this.ws ? this.ws.bufferedAmount : 0;
  }

  connect() {
    if (this.ws || ["closed", "missing"].includes(this.state)) return;
    clearTimeout(this.retryTimer);
    this.setState(this.attempt ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url, PROTOCOL);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = (event) => this.closed(ws, event.code);
  }

  // While waiting to reconnect: try at once (the person asked to).
  retryNow() {
    if (this.state !== "reconnecting" || this.ws) return;
    this.connect();
  }

  // Resolves once the server has said hello (connecting first if need be).
  ready() {
    if (this.isOpen) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const watch = (event) => {
        const { state } = event.detail;
        if (state === "open") {
          this.removeEventListener("state", watch);
          resolve();
        } else if (state === "missing" || state === "full" || state === "closed") {
          this.removeEventListener("state", watch);
          reject(new Error(state));
        }
      };
      this.addEventListener("state", watch);
      this.connect();
    });
  }

  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
    return true;
  }

  sendBinary(buffer) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(buffer);
    return true;
  }

  close() {
    this.setState("closed");
    clearTimeout(this.retryTimer);
    this.stopPinging();
    if (this.ws) this.ws.close(NORMAL);
  }

  receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    this.sawPong();
    if (message.type === "hello") {
      this.documentId = message.id; // from now on, reconnect to this document
      this.attempt = 0;
      this.setState("open");
      this.startPinging();
    }
    this.dispatchEvent(new CustomEvent("message", { detail: message }));
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.stopPinging();
    if (this.state === "closed") return;
    if (code === CLOSE_NO_DOCUMENT) {
      this.setState("missing");
      return;
    }
    if (code === CLOSE_STORAGE_FULL) {
      this.setState("full"); // retrying would only fill the server's log
      return;
    }
    // Full backoff doubles from 0.5 s to 15 s; each wait is drawn from its upper half, so
    // that a server restart is not met by every viewer at the same instant.
    const ceiling = Math.min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** this.attempt);
    const wait = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempt += 1;
    this.setState("reconnecting", wait);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  startPinging() {
    this.stopPinging();
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: "ping" })) return;
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => this.ws && this.ws.close(CLOSE_NO_PONG), PONG_WITHIN);
    }, PING_EVERY);
  }

  sawPong() {
    clearTimeout(this.pongTimer); // any message proves the link is alive
  }

  stopPinging() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  setState(state, retryIn = null) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, retryIn } }));
  }
}
