// Every event listener of the page, in one place: what a click, a key, typing or a drop asks
// the app to do. The handlers are the app's (app.js); nothing here changes the state.

import { hideAlert } from "./banners.js";
import { $ } from "./dom.js";
import { PLAIN } from "./views.js";

const TYPING_PAUSE = 300; // ms: a search or filter is sent once typing pauses

// Arrow keys there are the field's (a select's are its options'), not page turns.
function isTyping(target) {
  return (
    target instanceof HTMLInputElement ||
    target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement ||
    target.isContentEditable
  );
}

// app: { upload(file), cancelUpload(), copyLink(button), copyEditLink(button), retryNow(),
//   follow(checked), goTo(pageNo), shownPage(), changeView(changes), switchHeader(checked),
//   browseAlone(), toggleVersions(), olderVersions(), openVersion(n), restoreVersion(n),
//   backToLive(), mayUpload(), openMenu(column), closeMenu(returnFocus), menuColumn(),
//   moreValues(), toggleFacet(column, value), clearFacets(), setType(column, type),
//   sortColumn(column, order), columnsInSight(), editCell(row, column), saveCell(direction),
//   cancelCell(), leaveCell(), toggleNewRow(), closeNewRow(returnFocus), addRow(),
//   goToRow(row), selectRow(row, range), hasSelection(), deleteRows(), clearSelection(),
//   chooseSheet(name) }
export function bindControls(app) {
  $("file").addEventListener("change", () => {
    app.upload($("file").files[0]);
    $("file").value = ""; // choosing the same file again is a new upload
  });
  $("cancel").addEventListener("click", () => app.cancelUpload());
  $("copy-link").addEventListener("click", (event) => app.copyLink(event.currentTarget));
  $("copy-edit-link").addEventListener("click", (event) => app.copyEditLink(event.currentTarget));
  $("alert-close").addEventListener("click", () => hideAlert());
  $("reconnect").addEventListener("click", () => app.retryNow());
  $("follow").addEventListener("change", () => app.follow($("follow").checked));
  // another sheet of the workbook, for everyone (a select: its keys are its own, see isTyping)
  $("sheet-select").addEventListener("change", () => app.chooseSheet($("sheet-select").value));
  bindPager(app);
  bindViewBar(app);
  bindTable(app);
  // a wide table's profiles are asked for a range of columns at a time, as they come in sight
  let scrolled = false;
  $("table-wrap").addEventListener(
    "scroll",
    () => {
      if (scrolled) return;
      scrolled = true;
      requestAnimationFrame(() => {
        scrolled = false;
        app.columnsInSight();
      });
    },
    { passive: true },
  );
  bindColumnMenu(app);
  bindFacets(app);
  bindVersions(app);
  bindDownloads();
  bindDrop(app);
  bindRows(app); // last: its Escape is what no menu took
}

function bindPager(app) {
  const turn = (to) => () => {
    const page = app.shownPage();
    if (page) app.goTo(to(page));
  };
  $("first").addEventListener("click", () => app.goTo(1));
  $("prev").addEventListener("click", turn((page) => page.page_no - 1));
  $("next").addEventListener("click", turn((page) => page.page_no + 1));
  $("last").addEventListener("click", turn((page) => page.page_count));
  $("page").addEventListener("change", () => app.goTo(Number.parseInt($("page").value, 10) || 1));
  document.addEventListener("keydown", (event) => {
    const page = app.shownPage();
    if (isTyping(event.target) || event.altKey || event.ctrlKey || event.metaKey || !page) return;
    if (event.key === "ArrowRight") app.goTo(page.page_no + 1);
    else if (event.key === "ArrowLeft") app.goTo(page.page_no - 1);
    else return;
    event.preventDefault();
  });
}

function bindViewBar(app) {
  let typing = null;
  $("search").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => app.changeView({ q: $("search").value }), TYPING_PAUSE);
  });
  $("header-toggle").addEventListener("change", () => app.switchHeader($("header-toggle").checked));
  $("clear-view").addEventListener("click", () => app.changeView({ ...PLAIN }));
  $("group-alone").addEventListener("click", () => app.browseAlone());
}

// The table's header is drawn again with every page: its sort buttons and filter fields are
// listened to on the table, which stays.
function bindTable(app) {
  const table = $("table");
  table.addEventListener("click", (event) => {
    const button = event.target.closest("button.sort");
    if (button && table.contains(button)) app.sort(Number(button.dataset.column));
    const menu = event.target.closest("button.colmenu");
    if (menu && table.contains(menu)) {
      const column = Number(menu.dataset.column);
      if (app.menuColumn() === column) app.closeMenu(true);
      else app.openMenu(column);
    }
    const select = event.target.closest("button.row-select");
    if (select && table.contains(select)) app.selectRow(Number(select.dataset.row), event.shiftKey);
  });
  const typing = new WeakMap(); // by filter field: each waits for its own pause
  table.addEventListener("input", (event) => {
    const input = event.target;
    if (!input.matches("input.filter")) return;
    clearTimeout(typing.get(input));
    typing.set(
      input,
      setTimeout(() => app.filter(Number(input.dataset.column), input.value), TYPING_PAUSE),
    );
  });
  bindCells(app, table);
  bindRowNumbers(app, table);
}

// An editor's row numbers select rows (a click; Shift+click: a range). Shift+click would also
// select the text between; the arrow keys go up and down the row numbers, Shift+arrow
// selecting as it goes.
function bindRowNumbers(app, table) {
  table.addEventListener("mousedown", (event) => {
    const button = event.target.closest("button.row-select");
    if (!button || !event.shiftKey) return;
    event.preventDefault();
    button.focus(); // as a click without Shift would
  });
  table.addEventListener("keydown", (event) => {
    const button = event.target;
    if (!button.matches("button.row-select")) return;
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const tr = button.closest("tr");
    const other = event.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
    const next = other && other.querySelector("button.row-select");
    event.preventDefault(); // not the table's scroll: the focus moves, and scrolls to it
    if (!next) return;
    next.focus();
    if (event.shiftKey) app.selectRow(Number(next.dataset.row), true);
  });
}

// The cells, edited in place: a double click, or Enter or F2 on a focused cell, opens its
// editor. In the editor, Enter saves and goes down (Shift+Enter up), Tab right (Shift+Tab
// left), Escape gives up; leaving it saves. The rows are drawn anew with every page: listened
// to on the table.
function bindCells(app, table) {
  const dataCell = (target) => {
    const td = target.closest && target.closest("td[data-column]");
    return td && table.tBodies[0].contains(td) ? td : null;
  };
  const edit = (td) => app.editCell(Number(td.parentNode.dataset.row), Number(td.dataset.column));
  table.addEventListener("dblclick", (event) => {
    const td = dataCell(event.target);
    if (td) edit(td);
  });
  table.addEventListener("keydown", (event) => {
    if (event.isComposing) return; // an input method's Enter picks its text: not ours
    if (event.target.matches("input.cell-editor")) {
      if (event.key === "Enter") app.saveCell(event.shiftKey ? "up" : "down");
      else if (event.key === "Tab") app.saveCell(event.shiftKey ? "left" : "right");
      else if (event.key === "Escape") app.cancelCell();
      else return;
      event.preventDefault();
      event.stopPropagation(); // the editor's keys: not the column menu's Escape
      return;
    }
    if (event.key !== "Enter" && event.key !== "F2") return;
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const td = dataCell(event.target);
    if (!td || td !== event.target) return;
    edit(td);
    event.preventDefault();
  });
  table.addEventListener("focusout", (event) => {
    if (event.target.matches("input.cell-editor")) app.leaveCell();
  });
}

// The column menu: its buttons, its type select; Escape (focus back on the column's menu
// button) or a click elsewhere closes it.
function bindColumnMenu(app) {
  const popover = $("column-menu");
  const column = () => app.menuColumn();
  $("column-menu-close").addEventListener("click", () => app.closeMenu(true));
  $("column-sort-asc").addEventListener("click", () => app.sortColumn(column(), "asc"));
  $("column-sort-desc").addEventListener("click", () => app.sortColumn(column(), "desc"));
  $("column-values-more").addEventListener("click", () => app.moreValues());
  $("column-values").addEventListener("click", (event) => {
    const button = event.target.closest("button.facet-value");
    if (button) app.toggleFacet(column(), button.dataset.value);
  });
  $("column-type").addEventListener("change", () => app.setType(column(), $("column-type").value));
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || app.menuColumn() === null) return;
    app.closeMenu(true);
    event.preventDefault();
  });
  document.addEventListener("click", (event) => {
    if (app.menuColumn() === null || popover.contains(event.target)) return;
    if (event.target.closest && event.target.closest("button.colmenu")) return; // the table's own
    app.closeMenu(false);
  });
}

// The facet chips above the table: × removes a value, Clear all every one.
function bindFacets(app) {
  $("facet-chips").addEventListener("click", (event) => {
    const button = event.target.closest("button.chip-remove");
    if (button) app.toggleFacet(Number(button.dataset.column), button.dataset.value);
  });
  $("facets-clear").addEventListener("click", () => app.clearFacets());
}

function bindVersions(app) {
  $("versions-button").addEventListener("click", () => app.toggleVersions());
  $("versions-older").addEventListener("click", () => app.olderVersions());
  $("back-live").addEventListener("click", () => app.backToLive());
  $("versions-list").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const version = Number(button.dataset.version);
    if (button.dataset.action === "open") app.openVersion(version);
    else if (button.dataset.action === "restore") app.restoreVersion(version);
    else if (button.dataset.action === "changes") app.showChanges(version - 1, version);
  });
  $("changes-close").addEventListener("click", () => app.closeChanges());
  $("changes-previous").addEventListener("click", () => app.stepChanges(-1));
  $("changes-next").addEventListener("click", () => app.stepChanges(1));
  $("since-show").addEventListener("click", () => app.showSince());
  $("since-dismiss").addEventListener("click", () => app.dismissSince());
}

// The Download menu closes on Escape (focus back on its button), on a click elsewhere, and
// once a download is chosen.
function bindDownloads() {
  const menu = document.querySelector(".downloads");
  const close = (focus) => {
    if (!menu.open) return;
    menu.open = false;
    if (focus) menu.querySelector("summary").focus();
  };
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.open) {
      close(true);
      event.preventDefault();
    }
  });
  document.addEventListener("click", (event) => {
    if (!menu.contains(event.target)) close(false);
  });
  for (const link of menu.querySelectorAll(".menu a")) link.addEventListener("click", () => close(false));
}

// Files are offered to those who may upload them: a view link's page takes no drop (and the
// browser is kept from opening the file instead).
function bindDrop(app) {
  const overlay = $("drop");
  let depth = 0; // dragenter/dragleave fire for every child crossed
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  window.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    overlay.hidden = !app.mayUpload();
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  window.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    if (!app.mayUpload()) event.dataTransfer.dropEffect = "none";
  });
  window.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    overlay.hidden = true;
    if (app.mayUpload()) app.upload(event.dataTransfer.files[0]);
  });
}

// Rows added and deleted: Add row opens the New row form (Enter adds the row, Tab goes from
// field to field, Escape closes it); the rows selected are deleted by Delete rows or the
// Delete key, and unselected by Clear selection or Escape, wherever the focus is but in a
// field.
function bindRows(app) {
  $("add-row").addEventListener("click", () => app.toggleNewRow());
  $("new-row").addEventListener("submit", (event) => {
    event.preventDefault();
    app.addRow();
  });
  $("new-row").addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.isComposing) return;
    event.preventDefault();
    event.stopPropagation(); // the form's: not the selection's, nor a menu's
    app.closeNewRow(true);
  });
  $("new-row-close").addEventListener("click", () => app.closeNewRow(true));
  $("new-row-go").addEventListener("click", () => app.goToRow(Number($("new-row-go").dataset.row)));
  $("delete-rows").addEventListener("click", () => app.deleteRows());
  $("clear-selection").addEventListener("click", () => app.clearSelection());
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || isTyping(event.target) || !app.hasSelection()) return;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "Delete") app.deleteRows();
    else if (event.key === "Escape") app.clearSelection();
    else return;
    event.preventDefault();
  });
}
