// Views as objects (views.js) and as the HTTP API's queries and links (api.js), and the wire's
// names (wire.js): pure, so tested without a browser.

import assert from "node:assert/strict";
import { test } from "node:test";

import { documentPath, downloadUrl, viewQuery } from "../../src/tablecast/static/api.js";
import { PLAIN, describeView, isPlain, nextSort, sameView, withFilter } from "../../src/tablecast/static/views.js";
import * as wire from "../../src/tablecast/static/wire.js";

test("a column header cycles ascending, descending, file order", () => {
  let view = { ...PLAIN };
  const seen = [];
  for (let i = 0; i < 3; i += 1) {
    view = { ...view, ...nextSort(view, 2) };
    seen.push([view.sort, view.order]);
  }
  assert.deepEqual(seen, [[2, "asc"], [2, "desc"], [null, "asc"]]);
  assert.equal(isPlain(view), true);
});

test("an empty filter is no filter", () => {
  const view = { ...PLAIN, ...withFilter({ ...PLAIN, filters: { 1: "x" } }, 1, "") };
  assert.deepEqual(view.filters, {});
  assert.equal(sameView({ ...PLAIN, filters: { 1: "" } }, PLAIN), true);
  assert.equal(sameView({ ...PLAIN, filters: { 1: "x" } }, PLAIN), false);
});

test("a view described in words", () => {
  const view = { sort: 0, order: "desc", q: "ada", filters: { 1: "lima" }, header: false };
  assert.equal(
    describeView(view, ["amount", "city"], true),
    "sorted by amount ▼ · matching “ada” · city: “lima” · no header row",
  );
  assert.equal(describeView({ ...PLAIN, header: true }, ["a"], true), "");
});

test("a view as the API's query, and a download's link", () => {
  const view = { sort: 1, order: "desc", q: "a b", filters: { 0: "x" }, header: true };
  assert.equal(String(viewQuery(view, 3)), "sort=1&order=desc&q=a+b&filter.0=x&header=1&version=3");
  assert.equal(String(viewQuery(PLAIN, null)), "");
  assert.equal(downloadUrl("d", "csv", PLAIN, null), "/parser/api/docs/d/download?format=csv");
  assert.equal(documentPath("d"), "/parser/api/docs/d");
});

test("close codes are the server's (tablecast/web/connection.py)", () => {
  assert.deepEqual(
    [wire.CLOSE_NO_DOCUMENT, wire.CLOSE_TOO_SLOW, wire.CLOSE_STORAGE_FULL, wire.POLICY, wire.NORMAL],
    [4404, 4008, 4507, 1008, 1000],
  );
  assert.equal(wire.socketPath(null), "/parser/ws");
  assert.equal(wire.socketPath("d"), "/parser/ws/d");
  assert.equal(wire.sharePath("d"), "/parser/share/d");
});
