// Renders a page into a <table>. Cells are set with textContent only: a cell is never HTML.

const NUMBER = /^\s*[-+−]?[$€£¥]?\s*(\d{1,3}(,\d{3})+|\d+)([.,]\d+)?\s*%?\s*$/;

function isNumeric(cells) {
  let seen = false;
  for (const cell of cells) {
    if (cell === undefined || cell.trim() === "") continue;
    if (!NUMBER.test(cell)) return false;
    seen = true;
  }
  return seen;
}

function cell(tag, text, className) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

export function renderTable(table, page) {
  const { columns, data, first_row: firstRow } = page;
  const numeric = columns.map((_, i) => isNumeric(data.map((row) => row[i])));

  const head = document.createElement("tr");
  const corner = cell("th", "#", "rownum");
  corner.scope = "col";
  head.append(corner);
  columns.forEach((name, i) => {
    const th = cell("th", name, numeric[i] ? "num" : "");
    th.scope = "col";
    head.append(th);
  });

  const body = document.createDocumentFragment();
  data.forEach((row, r) => {
    const tr = document.createElement("tr");
    const number = cell("th", String(firstRow + r), "rownum");
    number.scope = "row";
    tr.append(number);
    for (let i = 0; i < columns.length; i += 1) {
      tr.append(cell("td", row[i] ?? "", numeric[i] ? "num" : ""));
    }
    tr.append(...row.slice(columns.length).map((text) => cell("td", text)));
    body.append(tr);
  });

  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(body);
  markClipped(table);
}

// Cells too long for their column are cut with an ellipsis; those can be focused (and
// hovered) to read them whole.
function markClipped(table) {
  requestAnimationFrame(() => {
    for (const td of table.tBodies[0].querySelectorAll("td")) {
      if (td.scrollWidth > td.clientWidth + 1) {
        td.classList.add("clipped");
        td.tabIndex = 0;
        td.title = td.textContent;
      }
    }
  });
}
