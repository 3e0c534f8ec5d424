/* Plugboard console: the live parts of a page over one WebSocket, and the plug page's chart.
   Every value is written with textContent: nothing received is ever parsed as HTML. */
(function () {
  "use strict";
  var body = document.body;
  var state = document.getElementById("live-state");
  var chart = null, series = null;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function json(value) { return JSON.stringify(value); }
  function isoMs(ms) { return new Date(ms).toISOString(); }
  function flash(row) { row.classList.remove("fresh"); void row.offsetWidth; row.classList.add("fresh"); }
  function setLive(text) { if (state) state.textContent = "live: " + text; }
  function number(v) {
    if (typeof v === "boolean") return v ? 1 : 0;
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  /* --- chart (plug page) ------------------------------------------------------------------ */
  function chartWidth(box) { return Math.max(240, box.clientWidth - 4); }
  function initChart() {
    var box = document.getElementById("chart"), data = document.getElementById("series");
    if (!box || !data || !window.uPlot) return;
    series = JSON.parse(data.textContent);
    var xs = [], ys = [];
    series.points.forEach(function (p) { xs.push(p[0] / 1000); ys.push(p[1]); });
    chart = new window.uPlot({
      width: chartWidth(box), height: 260,
      scales: { x: { time: true } },
      series: [{}, { label: series.property, stroke: "#0b5cad", width: 2, fill: "rgba(11,92,173,.08)",
                     points: { show: xs.length < 80 } }],
      axes: [{}, { size: 60 }]
    }, [xs, ys], box);
    box.setAttribute("data-points", xs.length);
    window.addEventListener("resize", function () { chart.setSize({ width: chartWidth(box), height: 260 }); });
  }
  function chartAdd(record) {
    if (!chart || !series || series.fixed || record.channel !== series.property) return;
    var y = number(record.data);
    var xs = chart.data[0].slice(), ys = chart.data[1].slice(), t = record.at / 1000;
    var i = xs.length;
    while (i > 0 && xs[i - 1] > t) i--;
    if (i > 0 && xs[i - 1] === t) ys[i - 1] = y; else { xs.splice(i, 0, t); ys.splice(i, 0, y); }
    var since = (series.relative ? Date.now() - series.window : series.start) / 1000;
    while (xs.length && xs[0] < since) { xs.shift(); ys.shift(); }
    chart.setData([xs, ys]);
    /* What the chart holds, for a reader (and a test) that cannot look at the canvas. */
    document.getElementById("chart").setAttribute("data-points", xs.length);
    document.getElementById("chart").setAttribute("data-last-value", json(y));
    var note = document.getElementById("chart-note");
    if (note) note.textContent = xs.length + " points, live.";
  }

  /* --- live updates ----------------------------------------------------------------------- */
  function latest(record) {
    var table = document.getElementById("latest");
    if (!table) return;
    var tbody = table.tBodies[0], row = null;
    for (var i = 0; i < tbody.rows.length; i++) {
      if (tbody.rows[i].getAttribute("data-property") === record.channel) { row = tbody.rows[i]; break; }
    }
    if (!row) {
      var empty = tbody.querySelector("tr.empty");
      if (empty) empty.remove();
      row = el("tr"); row.setAttribute("data-property", record.channel);
      var head = el("th", record.channel); head.scope = "row";
      var value = el("td"); value.setAttribute("data-value", "");
      var at = el("td"); at.setAttribute("data-at", "");
      row.append(head, value, at, el("td", "any", "opt"), el("td", "protected", "opt"));
      tbody.append(row);
    }
    var shown = row.querySelector("[data-at]");
    if (shown.getAttribute("data-ms") && +shown.getAttribute("data-ms") > record.at) return;
    row.querySelector("[data-value]").textContent = json(record.data);
    shown.textContent = isoMs(record.at);
    shown.setAttribute("data-ms", record.at);
    flash(row);
  }
  function journal(record) { journalEvent("data", "live", record.channel, json(record.data)); }
  function journalEvent(event, source, channel, data) {
    var table = document.getElementById("journal");
    if (!table || location.search.indexOf("jbefore=") >= 0) return;
    var tbody = table.tBodies[0], empty = tbody.querySelector("tr.empty");
    if (empty) empty.remove();
    var row = el("tr");
    row.append(el("td", isoMs(Date.now())), el("td", event), el("td", source, "opt"), el("td", channel), el("td", data));
    tbody.prepend(row);
    while (tbody.rows.length > 20) tbody.deleteRow(-1);
    flash(row);
  }
  function deviceLog(msg) {
    var table = document.getElementById("device-log");
    if (!table || location.search.indexOf("lbefore=") >= 0) return;
    var tbody = table.tBodies[0], empty = tbody.querySelector("tr.empty");
    if (empty) empty.remove();
    msg.entries.forEach(function (e) {
      if (tbody.querySelector('tr[data-log="' + CSS.escape(String(e.id)) + '"]')) return;
      var row = el("tr"); row.setAttribute("data-log", e.id);
      row.append(el("td", isoMs(e.at)), el("td", e.source, "opt"), el("td", e.property), el("td", e.code), el("td", e.message));
      tbody.prepend(row);
      flash(row);
    });
    while (tbody.rows.length > 20) tbody.deleteRow(-1);
  }
  function connection(msg) {
    if (document.getElementById("journal")) journalEvent(msg.connected ? "connect" : "disconnect", msg.transport || "", "", "");
    var holders = document.querySelectorAll('[data-plug="' + CSS.escape(msg.plug) + '"]');
    holders.forEach(function (holder) {
      var cell = holder.querySelector("[data-connection]");
      if (!cell) return;
      cell.textContent = "";
      cell.append(el("span", msg.connected ? "connected" : "offline", "badge " + (msg.connected ? "on" : "off")));
      if (msg.transport) { cell.append(" "); var t = el("small", msg.transport); t.setAttribute("data-transport", ""); cell.append(t); }
      var seen = holder.querySelector("[data-last-seen]");
      if (seen && msg.last_seen) seen.textContent = isoMs(msg.last_seen);
      flash(holder.tagName === "TR" ? holder : cell);
    });
  }
  function commands(msg) {
    var table = document.getElementById("commands");
    if (!table) return;
    var tbody = table.tBodies[0];
    msg.commands.forEach(function (c) {
      var row = tbody.querySelector('tr[data-command="' + CSS.escape(c.id) + '"]');
      if (!row) {
        var empty = tbody.querySelector("tr.empty");
        if (empty) empty.remove();
        row = el("tr"); row.setAttribute("data-command", c.id);
        var cell = el("td"), badge = el("span", "", "badge"); badge.setAttribute("data-state", "");
        cell.append(badge);
        row.append(el("td", c.property), el("td", json(c.value)), cell, el("td", isoMs(Date.now()), "opt"));
        tbody.prepend(row);
      }
      var order = ["pending", "sent", "acked", "expired"];
      var badge2 = row.querySelector("[data-state]");
      if (order.indexOf(c.state) < order.indexOf(badge2.textContent)) return;  /* never backwards */
      badge2.textContent = c.state;
      badge2.className = "badge state-" + c.state;
      flash(row);
    });
  }
  function onMessage(event) {
    var msg = JSON.parse(event.data);
    if (msg.kind === "points") msg.records.forEach(function (r) { latest(r); chartAdd(r); journal(r); });
    else if (msg.kind === "connection") connection(msg);
    else if (msg.kind === "commands") commands(msg);
    else if (msg.kind === "log") deviceLog(msg);
  }

  var delay = 1000;
  function connect() {
    var path = body.getAttribute("data-live");
    if (!path) return;
    var socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path);
    socket.onopen = function () { delay = 1000; setLive("on"); body.setAttribute("data-live-state", "open"); };
    socket.onmessage = onMessage;
    socket.onclose = function () {
      setLive("reconnecting…"); body.setAttribute("data-live-state", "closed");
      setTimeout(connect, delay); delay = Math.min(delay * 2, 30000);
    };
  }

  document.addEventListener("DOMContentLoaded", function () { initChart(); connect(); });
})();
