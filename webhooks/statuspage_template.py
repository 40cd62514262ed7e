"""The status page's HTML: inline CSS, inline SVG charts drawn by inline JS, no external assets, no build step.

``__RELAY_DATA__`` is replaced by the page's first data (JSON). Every value is set with ``textContent`` or as an
SVG attribute, never parsed as HTML.
"""

# ruff: noqa: E501 (one HTML/JS document kept readable as it is served, not wrapped to Python's line length)

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Relay status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2433; background: #f6f7f9; }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
  .ok { color: #137333; } .warn { color: #b06000; } .fail { color: #c5221f; font-weight: 600; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 1rem; }
  .card { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: .8rem 1rem; }
  table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .2rem .5rem .2rem 0; }
  th { font-weight: 600; color: #5f6673; border-bottom: 1px solid #dde1e7; }
  .num { font-size: 1.6rem; font-weight: 600; } .label { color: #5f6673; font-size: .8rem; }
  .stats { display: flex; gap: 1.5rem; flex-wrap: wrap; } svg { width: 100%; height: 120px; }
  .muted { color: #8a919e; } a { color: #1a5fb4; } code { font-size: 12px; }
</style>
</head>
<body>
<h1>Relay <span id="level">…</span></h1>
<div class="muted">updated <span id="updated">-</span>, refreshes every <span id="refresh">-</span>s</div>
<div id="story-card" class="card" hidden>
  <h2>Event <code id="story-id"></code> <span id="story-status"></span></h2>
  <table><thead><tr><th>time</th><th>step</th><th>what</th></tr></thead><tbody id="story"></tbody></table>
  <p><a href="/status">back to the status</a></p>
</div>
<div class="grid">
  <div class="card"><h2>Parts</h2>
    <table><thead><tr><th>part</th><th>level</th><th>state</th><th>why</th></tr></thead><tbody id="parts"></tbody></table>
  </div>
  <div class="card"><h2>Queue</h2>
    <div class="stats">
      <div><div class="num" id="waiting">-</div><div class="label">waiting</div></div>
      <div><div class="num" id="in-progress">-</div><div class="label">in progress</div></div>
      <div><div class="num" id="oldest">-</div><div class="label">oldest waiting</div></div>
      <div><div class="num" id="processes">-</div><div class="label">processes online</div></div>
    </div>
    <h2>Queue depth, last hour</h2><svg id="chart-depth" viewBox="0 0 600 120" preserveAspectRatio="none"></svg>
  </div>
  <div class="card"><h2>Events per minute, last hour
      <span class="label">(received <span style="color:#1a5fb4">■</span> finished <span style="color:#137333">■</span>
      failed <span style="color:#c5221f">■</span>)</span></h2>
    <svg id="chart-rates" viewBox="0 0 600 120" preserveAspectRatio="none"></svg>
    <table><thead><tr><th>window</th><th>received</th><th>finished</th><th>failed</th></tr></thead>
      <tbody>
        <tr><td>5 min</td><td id="received-5m">-</td><td id="finished-5m">-</td><td id="failed-5m">-</td></tr>
        <tr><td>60 min</td><td id="received-60m">-</td><td id="finished-60m">-</td><td id="failed-60m">-</td></tr>
      </tbody></table>
  </div>
  <div class="card"><h2>Tokens <span class="label">(days left until expiry)</span></h2>
    <svg id="chart-tokens" viewBox="0 0 600 40" preserveAspectRatio="none"></svg>
    <table><thead><tr><th>name</th><th>target</th><th>status</th><th>days left</th></tr></thead><tbody id="tokens"></tbody></table>
  </div>
  <div class="card"><h2>Dead letters: <span id="dead-letters">-</span></h2>
    <table><thead><tr><th>reason</th><th>count</th></tr></thead><tbody id="reasons"></tbody></table>
  </div>
  <div class="card"><h2>Recent failures</h2>
    <table><thead><tr><th>event</th><th>when</th><th>source/type</th><th>error</th></tr></thead><tbody id="failures"></tbody></table>
  </div>
</div>
<script id="relay-data" type="application/json">__RELAY_DATA__</script>
<script>
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const boot = JSON.parse(document.getElementById("relay-data").textContent);
const $ = (id) => document.getElementById(id);
function text(id, value) { $(id).textContent = value === null || value === undefined ? "-" : String(value); }
function when(seconds) { return seconds ? new Date(seconds * 1000).toISOString().replace(".000", "").replace("T", " ") : "-"; }
function age(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  return seconds < 120 ? Math.round(seconds) + "s" : seconds < 7200 ? Math.round(seconds / 60) + "m" : (seconds / 3600).toFixed(1) + "h";
}
function rows(id, items, cells) {
  const body = $(id); body.replaceChildren();
  for (const item of items) {
    const tr = document.createElement("tr");
    for (const cell of cells(item)) {
      const td = document.createElement("td");
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell === null || cell === undefined ? "-" : String(cell);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}
function levelSpan(level) { const s = document.createElement("span"); s.className = level; s.textContent = level; return s; }
function link(id) { const a = document.createElement("a"); a.href = "/status/events/" + encodeURIComponent(id); a.textContent = id; return a; }
function shape(svg, name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  svg.appendChild(node); return node;
}
function lineChart(svg, values) {
  svg.replaceChildren();
  const max = Math.max(1, ...values.filter((v) => v !== null));
  const step = 600 / Math.max(1, values.length - 1);
  const points = values.map((v, i) => v === null ? null : (i * step).toFixed(1) + "," + (115 - (v / max) * 105).toFixed(1)).filter(Boolean);
  shape(svg, "line", { x1: 0, y1: 115, x2: 600, y2: 115, stroke: "#dde1e7" });
  if (points.length) shape(svg, "polyline", { points: points.join(" "), fill: "none", stroke: "#1a5fb4", "stroke-width": 2 });
  shape(svg, "text", { x: 2, y: 12, "font-size": 11, fill: "#5f6673" }).textContent = "max " + max;
}
function barChart(svg, minutes) {
  svg.replaceChildren();
  const series = [["received", "#1a5fb4"], ["finished", "#137333"], ["failed", "#c5221f"]];
  const max = Math.max(1, ...minutes.flatMap((m) => series.map(([k]) => m[k])));
  const slot = 600 / Math.max(1, minutes.length), width = slot / 3.5;
  minutes.forEach((m, i) => series.forEach(([key, color], j) => {
    const h = (m[key] / max) * 105;
    if (h > 0) shape(svg, "rect", { x: (i * slot + j * width).toFixed(1), y: (115 - h).toFixed(1), width: width.toFixed(1), height: h.toFixed(1), fill: color });
  }));
  shape(svg, "text", { x: 2, y: 12, "font-size": 11, fill: "#5f6673" }).textContent = "max " + max + "/min";
}
function tokenBars(svg, tokens) {
  const shown = tokens.filter((t) => t.days_left !== null);
  svg.setAttribute("viewBox", "0 0 600 " + Math.max(20, shown.length * 20));
  svg.style.height = Math.max(20, shown.length * 20) + "px";
  svg.replaceChildren();
  const max = Math.max(1, ...shown.map((t) => t.days_left));
  shown.forEach((t, i) => {
    const color = t.status === "ok" ? "#137333" : t.status === "warn" ? "#b06000" : "#c5221f";
    shape(svg, "rect", { x: 140, y: i * 20 + 3, width: Math.max(2, (Math.max(0, t.days_left) / max) * 400).toFixed(1), height: 14, fill: color });
    shape(svg, "text", { x: 0, y: i * 20 + 15, "font-size": 12, fill: "#1d2433" }).textContent = t.name;
    shape(svg, "text", { x: 550, y: i * 20 + 15, "font-size": 12, fill: "#1d2433" }).textContent = t.days_left + " d";
  });
}
function show(data) {
  const level = $("level"); level.className = data.level; level.textContent = data.attention ? "needs attention (" + data.level + ")" : "healthy";
  rows("parts", Object.entries(data.parts), ([name, p]) => [name, levelSpan(p.level), p.state, p.reason]);
  const o = data.overview; if (!o) return;
  text("updated", when(o.now)); text("waiting", o.waiting); text("in-progress", o.in_progress);
  text("oldest", age(o.oldest_waiting_seconds)); text("processes", o.processes.length); text("dead-letters", o.dead_letters);
  for (const w of ["5m", "60m"]) for (const k of ["received", "finished", "failed"]) text(k + "-" + w, o.throughput[w][k]);
  lineChart($("chart-depth"), o.minutes.map((m) => m.depth));
  barChart($("chart-rates"), o.minutes);
  tokenBars($("chart-tokens"), o.tokens);
  rows("tokens", o.tokens, (t) => [t.name, t.target, levelSpan(t.status === "ok" ? "ok" : t.status === "warn" ? "warn" : "fail"), t.expires_at === 0 ? "never" : t.days_left]);
  rows("reasons", o.top_reasons, (r) => [r.reason, r.count]);
  rows("failures", o.failures, (f) => [link(f.id), when(f.at), f.source + "/" + f.type, f.error]);
}
function showStory(event) {
  $("story-card").hidden = false; text("story-id", event.id); text("story-status", event.status || event.error);
  rows("story", event.timeline || [], (s) => [when(s.at), s.kind, s.text]);
}
async function refresh() {
  try {
    const answer = await fetch("/status.json", { cache: "no-store", credentials: "same-origin" });
    if (answer.ok) show(await answer.json());
  } catch (e) { text("updated", "unreachable"); }
}
text("refresh", boot.refresh);
show(boot.status);
if (boot.event) showStory(boot.event);
setInterval(refresh, boot.refresh * 1000);
</script>
</body>
</html>
"""
