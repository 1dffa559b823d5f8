// The Roost cluster page: polls v1/cluster/status (relative, so it works behind a path prefix)
// and redraws. No framework, no build step. Every value from the server goes into the page with
// textContent or as an attribute, never as HTML.
"use strict";

const REFRESH_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#2e90fa", "#f79009", "#12b76a", "#9e77ed", "#f04438", "#06aed4", "#ee46bc",
  "#669f2a", "#6172f3", "#e04f16"];

let previous = null; // the last status, for rates
const colors = new Map();

function color(id) {
  if (!colors.has(id)) colors.set(id, PALETTE[colors.size % PALETTE.length]);
  return colors.get(id);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

// Colours go through CSSOM: the page's Content-Security-Policy refuses inline style attributes.
function swatch(id) {
  const node = el("span", { class: "swatch" });
  node.style.background = color(id);
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function fmtRate(r) {
  if (r === null || !Number.isFinite(r)) return "–";
  return r >= 100 ? r.toFixed(0) : r.toFixed(1);
}

function fmtAge(seconds) {
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)}h`;
  return `${(seconds / 86400).toFixed(1)}d`;
}

// Per-second rate of a counter between two reports of one node (null on the first refresh, and
// when the node restarted and its counters went back to zero).
function rate(now, before, pick) {
  if (!now || !before || now.error || before.error || now.started_at !== before.started_at) {
    return null;
  }
  const dt = now.at - before.at;
  return dt > 0 ? Math.max(0, pick(now) - pick(before)) / dt : null;
}

const total = (n) => n.invocations.ok + n.invocations.error;
const errors = (n) => n.invocations.error;

function renderMembers(status) {
  const body = document.querySelector("#members tbody");
  const rows = status.members.map((m) => {
    const n = status.nodes[m.id];
    const before = previous && previous.nodes[m.id];
    const silent = m.status === "active" && n && n.error;
    const badge = el("span", { class: `status status-${silent ? "silent" : m.status}` },
      silent ? `${m.status}, not answering` : m.status);
    const share = status.ring.shares[m.id];
    const ok = n && !n.error;
    return el("tr", { "data-member": m.id },
      el("td", {}, swatch(m.id), m.id),
      el("td", {}, badge),
      el("td", {}, m.http || ""),
      el("td", { class: "num" }, share === undefined ? "–" : `${(share * 100).toFixed(1)}%`),
      el("td", { class: "num" }, ok ? n.active : "–"),
      el("td", { class: "num" }, fmtRate(rate(n, before, total))),
      el("td", { class: "num" }, fmtRate(rate(n, before, errors))),
      el("td", { class: "num" }, ok ? n.handoffs.total : "–"),
      el("td", { class: "num" }, ok ? fmtAge(n.at - n.started_at) : "–"));
  });
  body.replaceChildren(...rows);
}

// A donut segment as a stroked circle: pathLength=1 makes the dash pattern count in turns.
function segment(radius, width, start, end, id) {
  const length = Math.max(0, end - start);
  return svg("circle", {
    r: radius, cx: 0, cy: 0, fill: "none", stroke: color(id), "stroke-width": width,
    pathLength: 1, "stroke-dasharray": `${length} ${1 - length}`,
    "stroke-dashoffset": -start, transform: "rotate(-90)",
  });
}

function renderRing(status) {
  const ring = status.ring;
  const drawing = document.getElementById("ring");
  const parts = [];
  let start = 0;
  for (const id of ring.members) {
    const share = ring.shares[id] || 0;
    parts.push(segment(62, 36, start, start + share, id));
    start += share;
  }
  for (const [a, b, id] of ring.arcs) parts.push(segment(96, 12, a, b, id));
  const label = svg("text", { x: 0, y: 6, "text-anchor": "middle", "font-size": 16 });
  label.textContent = `v${ring.version}`;
  parts.push(label);
  drawing.replaceChildren(...parts);
  const legend = document.getElementById("legend");
  legend.replaceChildren(...(ring.members.length ? ring.members.map((id) => el("li", {},
    swatch(id),
    `${id}: ${((ring.shares[id] || 0) * 100).toFixed(1)}%`))
    : [el("li", { class: "empty" }, "no active member: nothing is placed")]));
}

function renderActors(status) {
  const ids = status.members.map((m) => m.id).filter((id) => status.nodes[id]);
  const types = new Map(); // "system/type" -> {id -> active}, invocations per node
  for (const id of ids) {
    const n = status.nodes[id];
    if (n.error) continue;
    const before = previous && previous.nodes[id];
    for (const a of n.actors) {
      const key = `${a.system}/${a.type}`;
      if (!types.has(key)) types.set(key, { active: {}, rate: null });
      const t = types.get(key);
      t.active[id] = a.active;
      const old = before && !before.error && before.actors.find(
        (b) => b.system === a.system && b.type === a.type);
      const r = old ? rate(n, before, (x) => (x === n ? a : old).invocations) : null;
      if (r !== null) t.rate = (t.rate || 0) + r;
    }
  }
  const head = document.querySelector("#actors thead tr");
  head.replaceChildren(el("th", {}, "system/type"), ...ids.map((id) => el("th", { class: "num" },
    id)), el("th", { class: "num" }, "total"), el("th", { class: "num" }, "invocations/s"));
  const body = document.querySelector("#actors tbody");
  if (!types.size) {
    body.replaceChildren(el("tr", {}, el("td", { class: "empty", colspan: ids.length + 3 },
      "no actor has run yet")));
    return;
  }
  body.replaceChildren(...[...types.keys()].sort().map((key) => {
    const t = types.get(key);
    const sum = Object.values(t.active).reduce((x, y) => x + y, 0);
    return el("tr", {}, el("td", {}, key),
      ...ids.map((id) => el("td", { class: "num" }, t.active[id] ?? 0)),
      el("td", { class: "num" }, sum), el("td", { class: "num" }, fmtRate(t.rate)));
  }));
}

function renderHandoffs(status) {
  const all = [];
  for (const [id, n] of Object.entries(status.nodes)) {
    if (!n.error) for (const h of n.handoffs.recent) all.push({ node: id, ...h });
  }
  all.sort((a, b) => b.at - a.at);
  const body = document.querySelector("#handoffs tbody");
  if (!all.length) {
    body.replaceChildren(el("tr", {}, el("td", { class: "empty", colspan: 4 },
      "no handoff since these nodes started")));
    return;
  }
  body.replaceChildren(...all.slice(0, 20).map((h) => el("tr", {},
    el("td", {}, new Date(h.at * 1000).toLocaleTimeString()), el("td", {}, h.node),
    el("td", { class: "num" }, h.actors), el("td", { class: "num" }, h.seconds))));
}

function render(status) {
  renderMembers(status);
  renderRing(status);
  renderActors(status);
  renderHandoffs(status);
  const active = status.members.filter((m) => m.status === "active").length;
  document.getElementById("summary").textContent =
    `${status.members.length} members (${active} active), ring version ${status.ring.version}, ` +
    `served by ${status.node}, updated ${new Date(status.at * 1000).toLocaleTimeString()}`;
  document.body.dataset.loaded = "true";
  previous = status;
}

function problem(text) {
  const p = document.getElementById("problem");
  p.hidden = !text;
  p.textContent = text || "";
}

async function refresh() {
  try {
    const resp = await fetch("v1/cluster/status", { cache: "no-store" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    render(await resp.json());
    problem(null);
  } catch (err) {
    problem(`cluster status unavailable (${err.message}); retrying`);
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
