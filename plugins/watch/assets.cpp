#include "plugins/watch/assets.hpp"

#include <array>
#include <utility>

namespace upesi::plugins::watch {
namespace {

constexpr std::string_view Page = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Upesi watch</title>
<link rel="stylesheet" href="watch.css">
<script src="watch.js" defer></script>
</head>
<body>
<header>
  <h1>Upesi watch</h1>
  <span id="status" class="status-connecting">connecting</span>
  <span id="counts"></span>
</header>
<table id="traffic">
  <thead>
    <tr><th>time</th><th>remote</th><th>helo</th><th>tls</th><th>auth</th><th>mail from</th>
        <th>rcpt to</th><th>data</th><th>queue</th></tr>
  </thead>
  <tbody id="rows"></tbody>
</table>
<p class="legend"><span class="state-pass">passed</span> <span class="state-soft">deferred
(4xx)</span> <span class="state-fail">refused (5xx)</span> <span class="state-wait">in
progress</span>. Hover a cell for the plugin's reason, a row for the plugins' results.</p>
</body>
</html>
)html";

constexpr std::string_view Script = R"js("use strict";
// One row per connection, one cell per phase; events come as JSON over the websocket:
// {u: uuid, p: phase, s: state, v: value, d: detail, t: epoch ms}.
(function () {
  const phases = ["remote", "helo", "tls", "auth", "mail", "rcpt", "data", "queue"];
  const maxRows = 200;
  const rows = new Map();
  const body = document.getElementById("rows");
  const status = document.getElementById("status");
  const counts = document.getElementById("counts");
  let events = 0;

  function rowFor(uuid, time) {
    let row = rows.get(uuid);
    if (row) return row;
    const tr = document.createElement("tr");
    tr.id = "conn-" + uuid;
    tr.dataset.uuid = uuid;
    const when = document.createElement("td");
    when.className = "time";
    when.textContent = new Date(time || Date.now()).toLocaleTimeString();
    tr.appendChild(when);
    const cells = {};
    for (const phase of phases) {
      const td = document.createElement("td");
      td.className = "phase-" + phase;
      tr.appendChild(td);
      cells[phase] = td;
    }
    body.insertBefore(tr, body.firstChild);
    row = {tr: tr, cells: cells, recipients: []};
    rows.set(uuid, row);
    while (rows.size > maxRows) {
      const oldest = rows.keys().next().value;
      rows.get(oldest).tr.remove();
      rows.delete(oldest);
    }
    return row;
  }

  function apply(event) {
    if (!event || typeof event.u !== "string") return;
    const row = rowFor(event.u, event.t);
    if (event.p === "end") {
      row.tr.classList.add("ended");
      if (event.d) row.tr.title = event.d;
      return;
    }
    const cell = row.cells[event.p];
    if (!cell) return;
    if (event.p === "rcpt" && event.v) {
      if (!row.recipients.includes(event.v)) row.recipients.push(event.v);
      cell.textContent = row.recipients.join(", ");
    } else if (event.v !== undefined) {
      cell.textContent = event.v;
    }
    cell.className = "phase-" + event.p + " state-" + event.s;
    if (event.d) cell.title = event.d;
    if (event.p === "queue" && event.d) row.tr.title = event.d;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const token = new URLSearchParams(location.search).get("access_token");
    let url = scheme + "//" + location.host + location.pathname.replace(/[^/]*$/, "") + "ws";
    if (token) url += "?access_token=" + encodeURIComponent(token);
    const socket = new WebSocket(url);
    socket.onopen = function () {
      status.textContent = "live";
      status.className = "status-live";
    };
    socket.onmessage = function (message) {
      events += 1;
      counts.textContent = events + " events";
      try {
        apply(JSON.parse(message.data));
      } catch (e) {
        // an event cut at the ring's slot size is not JSON: left out
      }
    };
    socket.onclose = function () {
      status.textContent = "disconnected: retrying";
      status.className = "status-down";
      setTimeout(connect, 2000);
    };
  }
  connect();
})();
)js";

constexpr std::string_view Style = R"css(body { font: 13px/1.4 sans-serif; margin: 0; color: #222; }
header { display: flex; gap: 1em; align-items: baseline; padding: 0.5em 1em;
  background: #2d3e50; color: #fff; }
h1 { font-size: 16px; margin: 0; }
.status-live { color: #8f8; }
.status-down { color: #f88; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { border: 1px solid #ddd; padding: 2px 4px; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
th { background: #eee; text-align: left; }
td.time { width: 6em; color: #666; }
tr.ended { opacity: 0.7; }
.state-pass { background: #c8f0c8; }
.state-soft { background: #ffe8a0; }
.state-fail { background: #f8b8b8; }
.state-wait { background: #dde8f8; }
.state-info { background: #f4f4f4; }
.legend { padding: 0 1em; color: #555; }
.legend span { padding: 0 4px; }
)css";

const std::array<std::pair<std::string_view, Asset>, 4> Assets = {{
    {"", {"text/html; charset=utf-8", Page}},
    {"index.html", {"text/html; charset=utf-8", Page}},
    {"watch.js", {"text/javascript; charset=utf-8", Script}},
    {"watch.css", {"text/css; charset=utf-8", Style}},
}};

} // namespace

const Asset* findAsset(std::string_view name) {
  for (const auto& [path, asset] : Assets) {
    if (path == name) {
      return &asset;
    }
  }
  return nullptr;
}

} // namespace upesi::plugins::watch
