// Asking for a page or a view: if its answer takes longer than BUSY_AFTER, the view bar says
// what is coming and the table is dimmed until it comes (or an error does); a sort shows its
// arrow at once. A newer request replaces an older one. `answers(page)` says whether a page
// is its answer (there are no request ids: a page's `cause` and `view` tell); `view` is the
// view it asks for.

import { renderPending } from "./render.js";
import * as change from "./state.js";
import { state } from "./state.js";

const BUSY_AFTER = 200; // ms: quicker answers are not worth a flicker

export function ask(text, { view = null, answers = () => false } = {}) {
  // replacing a request already said to be slow: its successor is said at once
  const pending = { text, view, answers, shown: Boolean(state.pending && state.pending.shown) };
  change.asked(pending);
  setTimeout(() => {
    if (change.saidSlow(pending)) renderPending();
  }, BUSY_AFTER);
  renderPending();
  return pending;
}

export function answered(pending = state.pending) {
  if (change.answered(pending)) renderPending();
}
