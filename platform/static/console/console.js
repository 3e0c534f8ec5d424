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
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  /* The one way a time is shown: the reader's local time, YYYY-MM-DD HH:MM:SS, in a <time>
     whose datetime attribute (and title) holds the ISO 8601 UTC instant. Rows rendered by the
     server carry the same <time> and are rewritten by localTimes() on load. */
  function localText(ms) {
    var d = new Date(ms);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function timeEl(ms) {
    var t = el("time", localText(ms)), iso = isoMs(ms);
    t.setAttribute("datetime", iso); t.title = iso;
    return t;
  }
  function timeCell(ms, cls) { var td = el("td", undefined, cls); td.append(timeEl(ms)); return td; }
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var ms = Date.parse(t.getAttribute("datetime"));
      if (!isNaN(ms)) t.textContent = localText(ms);
    });
  }
  function flash(row) { row.classList.remove("fresh"); void row.offsetWidth; row.classList.add("fresh"); }
  function setLive(text) { if (state) state.textContent = "live: " + text; }
  function number(v) {
    if (typeof v === "boolean") return v ? 1 : 0;
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  /* --- chart (plug page) ------------------------------------------------------------------ */
  /* The x axis is the chosen window, not the span of the data: a last-hour chart of one point
     spans an hour (and slides with the clock), a From-To range spans that range. */
  function chartWidth(box) { return Math.max(240, box.clientWidth - 4); }
  function windowRange() {
    if (series.relative) { var until = Date.now() / 1000; return [until - series.window / 1000, until]; }
    return [series.start / 1000, series.end / 1000];
  }
  function tickText(span) {
    return function (u, splits) {
      return splits.map(function (v) {
        var t = localText(v * 1000);  /* YYYY-MM-DD HH:MM:SS, local, like every time shown */
        if (span <= 600) return t.slice(11);
        if (span <= 2 * 86400) return t.slice(11, 16);
        return t.slice(5, 16);
      });
    };
  }
  function showRange(box) {
    var x = chart.scales.x;
    box.setAttribute("data-x-min", Math.round(x.min * 1000));
    box.setAttribute("data-x-max", Math.round(x.max * 1000));
  }
  /* Several properties on one chart: each keeps its own points (raw[i]), joined on one x axis
     by uPlot.join (a property without a point at some time draws across it). */
  var COLORS = ["#0b5cad", "#b3261e", "#137333", "#8e44ad"];
  var raw = [];
  function joined() { return window.uPlot.join(raw.map(function (r) { return [r.xs, r.ys]; })); }
  function chartFacts() {
    var box = document.getElementById("chart"), total = 0;
    raw.forEach(function (r) { total += r.xs.length; });
    box.setAttribute("data-points", total);
    box.setAttribute("data-series", raw.length);
    return total;
  }
  function initChart() {
    var box = document.getElementById("chart"), data = document.getElementById("series");
    if (!box || !data || !window.uPlot) return;
    series = JSON.parse(data.textContent);
    raw = [series].concat(series.more || []).map(function (one) {
      var xs = [], ys = [];
      one.points.forEach(function (p) { xs.push(p[0] / 1000); ys.push(p[1]); });
      return { property: one.property, xs: xs, ys: ys };
    });
    var lines = raw.map(function (r, i) {
      return { label: r.property, stroke: COLORS[i % COLORS.length], width: 2,
               fill: i === 0 && raw.length === 1 ? "rgba(11,92,173,.08)" : undefined,
               points: { show: r.xs.length < 80 }, spanGaps: true };
    });
    chart = new window.uPlot({
      width: chartWidth(box), height: 260,
      scales: { x: { time: true, range: function () { return windowRange(); } } },
      series: [{ value: function (u, v) { return v == null ? "--" : localText(v * 1000); } }].concat(lines),
      axes: [{ values: tickText(series.window / 1000), space: 70 }, { size: 60 }],
      hooks: { setScale: [function (u, key) { if (key === "x") showRange(box); }] }
    }, joined(), box);
    showRange(box);
    chartFacts();
    window.addEventListener("resize", function () { chart.setSize({ width: chartWidth(box), height: 260 }); });
  }
  function chartAdd(record) {
    if (!chart || !series || series.fixed) return;
    var one = null;
    raw.forEach(function (r) { if (r.property === record.channel) one = r; });
    if (!one) return;
    var y = number(record.data), xs = one.xs, ys = one.ys, t = record.at / 1000;
    var i = xs.length;
    while (i > 0 && xs[i - 1] > t) i--;
    if (i > 0 && xs[i - 1] === t) ys[i - 1] = y; else { xs.splice(i, 0, t); ys.splice(i, 0, y); }
    var since = windowRange()[0];
    raw.forEach(function (r) { while (r.xs.length && r.xs[0] < since) { r.xs.shift(); r.ys.shift(); } });
    chart.setData(joined());
    /* What the chart holds, for a reader (and a test) that cannot look at the canvas. */
    var total = chartFacts();
    document.getElementById("chart").setAttribute("data-last-value", json(y));
    var note = document.getElementById("chart-note");
    if (note) note.textContent = total + " points, live.";
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
    shown.textContent = ""; shown.append(timeEl(record.at));
    shown.setAttribute("data-ms", record.at);
    flash(row);
  }
  function journal(record, source) { journalEvent("data", source || "", record.channel, json(record.data)); }
  function journalEvent(event, source, channel, data) {
    var table = document.getElementById("journal");
    if (!table || location.search.indexOf("jbefore=") >= 0) return;
    var tbody = table.tBodies[0], empty = tbody.querySelector("tr.empty");
    if (empty) empty.remove();
    var row = el("tr");
    row.append(timeCell(Date.now()), el("td", event), el("td", source, "opt"), el("td", channel), el("td", data));
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
      row.append(timeCell(e.at), el("td", e.source, "opt"), el("td", e.property), el("td", e.code), el("td", e.message));
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
      if (seen && msg.last_seen) { seen.textContent = ""; seen.append(timeEl(msg.last_seen)); }
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
        row.append(el("td", c.property), el("td", json(c.value)), cell, timeCell(Date.now(), "opt"));
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
  /* --- home page ------------------------------------------------------------------------- */
  function link(plug, name) {
    var a = el("a", name); a.href = "/console/plugs/" + encodeURIComponent(plug) + "/"; return a;
  }
  function refill(id, rows, empty, cells) {
    var table = document.getElementById(id);
    if (!table) return;
    var tbody = table.tBodies[0];
    tbody.textContent = "";
    if (!rows.length) {
      var row = el("tr", undefined, "empty"), td = el("td", empty);
      td.colSpan = table.tHead.rows[0].cells.length; row.append(td); tbody.append(row);
    }
    rows.forEach(function (r) { var row = el("tr"); cells(r).forEach(function (c) { row.append(c); }); tbody.append(row); });
  }
  function home(msg) {
    document.querySelectorAll("[data-stat]").forEach(function (node) {
      var name = node.getAttribute("data-stat");
      if (msg[name] !== undefined && node.textContent !== String(msg[name])) {
        node.textContent = msg[name];
        if (name === "incidents_open") node.classList.toggle("bad", msg[name] > 0);
        flash(node.closest("li"));
      }
    });
    refill("busiest", msg.busiest, "No point in the last minute.", function (b) {
      var name = el("td"); name.append(link(b.plug, b.name)); return [name, el("td", String(b.points))];
    });
    refill("rejections", msg.rejections, "No rejection logged.", function (r) {
      var name = el("td"), why = el("td"); name.append(link(r.plug, r.name));
      why.append(el("code", r.code), " " + r.message);
      return [timeCell(r.at), name, el("td", r.property, "opt"), why];
    });
  }

  function actionForm(table, id, action, label) {
    var form = el("form");
    form.method = "post";
    form.action = "/console/incidents/" + encodeURIComponent(id) + "/" + action + "/";
    [["csrfmiddlewaretoken", table.getAttribute("data-csrf")], ["next", table.getAttribute("data-next")]].forEach(function (f) {
      var input = el("input"); input.type = "hidden"; input.name = f[0]; input.value = f[1] || ""; form.append(input);
    });
    var button = el("button", label); button.type = "submit"; form.append(button);
    return form;
  }
  function incident(msg) {
    var i = msg.incident, table = document.getElementById("incidents");
    if (!table || !i || !i.id) return;
    var plug = table.getAttribute("data-plug");
    if (plug && plug !== i.deviceId) return;
    var tbody = table.querySelector("tbody");
    var row = tbody.querySelector('tr[data-incident="' + i.id + '"]');
    var open = i.status !== "cleared";
    if ((table.getAttribute("data-shows") === "open") !== open) { if (row) row.remove(); return; }
    var fresh = el("tr");
    fresh.setAttribute("data-incident", i.id);
    fresh.setAttribute("data-status", i.status);
    fresh.append(timeCell(Date.parse(i.startTime)));
    var device = el("td"); device.append(link(i.deviceId, i.deviceId)); fresh.append(device);
    fresh.append(el("td", i.alertName || i.alertId));
    var severity = el("td"); severity.append(el("span", i.severity, "severity " + i.severity)); fresh.append(severity);
    var status = el("td", i.status); status.setAttribute("data-incident-status", ""); fresh.append(status);
    var actions = el("td", undefined, "actions");
    if (i.status === "active") actions.append(actionForm(table, i.id, "ack", "Acknowledge"));
    if (open) actions.append(actionForm(table, i.id, "clear", "Clear"));
    fresh.append(actions);
    var empty = tbody.querySelector("tr.empty");
    if (empty) empty.remove();
    if (row) row.replaceWith(fresh); else tbody.prepend(fresh);
    flash(fresh);
  }

  function onMessage(event) {
    var msg = JSON.parse(event.data);
    if (msg.kind === "points") msg.records.forEach(function (r) { latest(r); chartAdd(r); journal(r, msg.source); });
    else if (msg.kind === "home") home(msg);
    else if (msg.kind === "connection") connection(msg);
    else if (msg.kind === "commands") commands(msg);
    else if (msg.kind === "log") deviceLog(msg);
    else if (msg.kind === "incident") incident(msg);
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

  /* --- forms ---------------------------------------------------------------------------- */
  /* A part of a form that applies to one choice of a select (data-for-kind on the keys form:
     the API client's context and scopes) is shown, and submitted, only for that choice. */
  function dependentParts() {
    var kind = document.getElementById("id_kind");
    var parts = document.querySelectorAll("[data-for-kind]");
    if (!kind || !parts.length) return;
    function apply() {
      parts.forEach(function (part) {
        var on = part.getAttribute("data-for-kind") === kind.value;
        part.hidden = !on; part.disabled = !on;
      });
    }
    kind.addEventListener("change", apply);
    apply();
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document); dependentParts(); initChart(); connect();
  });
})();
