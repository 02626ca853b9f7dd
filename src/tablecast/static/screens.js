// The screens: a new table (drop a file), waiting for an upload, a table that does not
// exist, or the table itself. One shows at a time.

import { $ } from "./dom.js";

const SCREENS = ["empty", "waiting", "missing", "document"];

export function showScreen(screen) {
  for (const id of SCREENS) $(id).hidden = id !== screen;
}
