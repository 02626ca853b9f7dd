// A minimal client of the tablecast.v1 protocol (see docs/protocol.md).
const $ = (id) => document.getElementById(id);
let ws;
let page = null;

function connect() {
  const id = document.body.dataset.document;
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  ws = new WebSocket(scheme + location.host + "/parser/ws" + (id ? "/" + id : ""), "tablecast.v1");
  ws.onopen = () => { $("status").textContent = "connected"; };
  ws.onclose = (e) => {
    $("status").textContent = e.code === 4404 ? "no such document" : "disconnected";
  };
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "hello") {
      document.body.dataset.document = msg.id;
      history.replaceState(null, "", "/parser/share/" + msg.id);
      $("share").textContent = "Share link: " + msg.url;
    } else if (msg.type === "page") {
      page = msg;
      render(msg);
    } else if (msg.type === "error") {
      $("status").textContent = msg.message;
    } else if (msg.type === "upload_ready") {
      sendFile(pendingFile);
    }
  };
}

function render(msg) {
  const head = document.createElement("tr");
  for (const name of msg.columns) {
    const th = document.createElement("th");
    th.textContent = name;
    head.append(th);
  }
  $("table").tHead.replaceChildren(head);
  $("table").tBodies[0].replaceChildren(...msg.data.map((row) => {
    const tr = document.createElement("tr");
    for (const cell of row) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.append(td);
    }
    return tr;
  }));
  $("position").textContent = `page ${msg.page_no} of ${msg.page_count} (${msg.total_number} rows)`;
}

let pendingFile = null;
async function sendFile(file) {
  const chunk = 256 * 1024;
  for (let offset = 0; offset < file.size; offset += chunk) {
    ws.send(await file.slice(offset, offset + chunk).arrayBuffer());
    while (ws.bufferedAmount > 4 * chunk) await new Promise((r) => setTimeout(r, 20));
  }
  ws.send(JSON.stringify({ type: "upload_end" }));
}

$("file").onchange = () => {
  pendingFile = $("file").files[0];
  if (!pendingFile) return;
  ws.send(JSON.stringify({ type: "upload_begin", filename: pendingFile.name, size: pendingFile.size }));
};
$("prev").onclick = () => page && ws.send(JSON.stringify({ type: "goto", page: Math.max(1, page.page_no - 1) }));
$("next").onclick = () => page && ws.send(JSON.stringify({ type: "goto", page: page.page_no + 1 }));
connect();
