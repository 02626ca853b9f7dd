// Which page answers a request. There are no request ids: a page's `cause` (docs/protocol.md)
// and its `view` tell. Each function makes the test a request waits with (see asking.js).
// Pure.

import { PLAIN, sameView } from "./views.js";

// A turn of the group's page: turns are shown in the order the server makes them, so the
// next turn is the answer (or a new version, or a view, which start the group over).
export function groupTurn() {
  return (page) => ["turn", "version", "view"].includes(page.cause);
}

// A page of one's own: that page of that view, unless a new version came first.
export function ownTurn(pageNo, view) {
  return (page) =>
    page.cause === "version" ||
    (page.cause === "request" && page.page_no === pageNo && sameView(page.view || PLAIN, view));
}

// The group's view changed by this editor (`me`): its page 1 comes to every follower, or a
// newer view's does when another editor's overtakes it (that one is said by someone else).
export function groupView(view, me) {
  return (page) =>
    page.cause === "version" ||
    (page.cause === "view" && Boolean(page.view) && (sameView(page.view, view) || page.view.by !== me));
}

// A view of one's own.
export function ownView(view) {
  return (page) => page.cause === "version" || (page.cause === "request" && sameView(page.view || PLAIN, view));
}

// Back to following: the group's page, as the server sends it on a follow.
export function joinGroup() {
  return (page) => ["follow", "version"].includes(page.cause);
}
