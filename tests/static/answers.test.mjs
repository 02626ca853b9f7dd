// Which page answers a request (src/tablecast/static/answers.js): told by its cause and its
// view, since requests carry no ids. A wrong answer would stop "Loading page 3…" early, or
// never.

import assert from "node:assert/strict";
import { test } from "node:test";

import * as answers from "../../src/tablecast/static/answers.js";
import { PLAIN } from "../../src/tablecast/static/views.js";

const page = (cause, fields = {}) => ({ cause, page_no: 1, view: { ...PLAIN }, ...fields });
const sorted = { ...PLAIN, sort: 2, order: "desc" };

test("the group's next turn answers a turn of the group's page", () => {
  const answer = answers.groupTurn();
  assert.deepEqual(
    ["turn", "version", "view", "request", "presence", "follow", "join"].map((cause) => answer(page(cause))),
    [true, true, true, false, false, false, false],
  );
});

test("only that page of that view answers a turn of one's own", () => {
  const answer = answers.ownTurn(3, sorted);
  assert.equal(answer(page("request", { page_no: 3, view: sorted })), true);
  assert.equal(answer(page("request", { page_no: 2, view: sorted })), false); // an older turn's
  assert.equal(answer(page("request", { page_no: 3 })), false); // another view's
  assert.equal(answer(page("turn", { page_no: 3, view: sorted })), false); // the group's
  assert.equal(answer(page("version")), true); // a new version starts over
});

test("a view of one's own is answered by a requested page in that view", () => {
  const answer = answers.ownView(sorted);
  assert.equal(answer(page("request", { view: { ...sorted, filters: { 1: "" } } })), true);
  assert.equal(answer(page("request")), false);
  assert.equal(answer(page("request", { view: undefined })), false);
  assert.equal(answers.ownView(PLAIN)(page("request", { view: undefined })), true);
  assert.equal(answer(page("view", { view: sorted })), false); // the group's, not ours
});

test("the group's view: its page 1, or another editor's newer view", () => {
  const answer = answers.groupView(sorted, "Guest 1");
  assert.equal(answer(page("view", { view: { ...sorted, by: "Guest 1" } })), true);
  assert.equal(answer(page("view", { view: { ...PLAIN, q: "x", by: "Guest 2" } })), true); // overtaken
  assert.equal(answer(page("view", { view: { ...PLAIN, q: "x", by: "Guest 1" } })), false); // our older one
  assert.equal(answer(page("view", { view: null })), false);
  assert.equal(answer(page("turn", { view: sorted })), false);
  assert.equal(answer(page("version")), true);
});

test("following again is answered by the group's page", () => {
  const answer = answers.joinGroup();
  assert.deepEqual(["follow", "version", "turn", "request"].map((cause) => answer(page(cause))), [true, true, false, false]);
});
