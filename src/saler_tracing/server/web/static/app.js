// saler-trace web view. No framework, no CDN: DOM built with textContent only (never
// innerHTML with data), so span names and attributes cannot inject markup.
"use strict";

const $ = (sel) => document.querySelector(sel);
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
const ms = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const pct = (x) => (x * 100).toFixed(1) + "%";
const when = (ns) => new Date(ns / 1e6).toISOString().replace("T", " ").slice(0, 19);
const num = (v) => el("td", { class: "num" }, v);

function status(text) { $("#status").textContent = text || ""; }

async function api(path, params) {
  const qs = new URLSearchParams(params || {});
  const res = await fetch(path + (qs.toString() ? "?" + qs : ""), { headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res.json();
}
const windowParam = () => ({ since: $("#window").value });

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
  if (!rows.length) tbody.append(el("tr", {}, el("td", { colspan: "9", class: "muted" }, "nothing in this window")));
}
function traceLink(id) {
  return el("a", { href: "#/trace/" + id, class: "mono" }, id.slice(0, 12) + "…");
}

// ---- trace search -------------------------------------------------------------------------
async function loadServices() {
  const { services } = await api("/api/services");
  const select = $("#search select[name=service]");
  const current = select.value;
  select.replaceChildren(el("option", { value: "" }, "any"), ...services.map((s) => el("option", { value: s }, s)));
  select.value = current;
}

async function search(event) {
  if (event) event.preventDefault();
  const form = new FormData($("#search"));
  const params = {};
  for (const [k, v] of form.entries()) if (v) params[k] = v;
  params.since = $("#window").value;
  status("searching…");
  const { traces } = await api("/api/traces", params);
  status(traces.length + " traces");
  $("#trace-results").dataset.query = new URLSearchParams(params).toString();
  fill($("#trace-results tbody"), traces.map((t) =>
    el("tr", { class: "clickable", "data-trace": t.trace_id, onclick: () => { location.hash = "#/trace/" + t.trace_id; } },
      el("td", {}, when(t.start_ns)),
      el("td", {}, t.root_service + " · " + t.root_name),
      num(ms(t.duration_ms) + " ms"),
      num(t.span_count),
      el("td", { class: t.error_count ? "err num" : "num" }, t.error_count),
      el("td", {}, t.services.join(", ")),
      el("td", {}, traceLink(t.trace_id)))));
}

// ---- one trace: waterfall and span details ------------------------------------------------
function treeOrder(spans) {
  const ids = new Set(spans.map((s) => s.span_id));
  const kids = new Map();
  for (const s of spans) {
    const parent = ids.has(s.parent_span_id) ? s.parent_span_id : "";
    if (!kids.has(parent)) kids.set(parent, []);
    kids.get(parent).push(s);
  }
  // Depth first with a stack of its own: a chain of 100,000 spans would overflow the call stack.
  const out = [];
  const byStart = (a, b) => b.start_ns - a.start_ns;  // reversed: popped in start order
  const stack = (kids.get("") || []).sort(byStart).map((s) => [s, 0]);
  while (stack.length) {
    const [s, depth] = stack.pop();
    out.push([s, depth]);
    for (const c of (kids.get(s.span_id) || []).sort(byStart)) stack.push([c, depth + 1]);
  }
  return out;
}

// A span may carry a million attributes: the panel shows the first ones and says how many more.
const DETAILS_MAX = 500;
function detailsTable(obj) {
  const table = el("table", {});
  let shown = 0;
  for (const k in obj || {}) {
    if (shown++ === DETAILS_MAX) {
      const rest = Object.keys(obj).length - DETAILS_MAX;
      table.append(el("tr", {}, el("td", { class: "more" }, `… ${rest} more (the JSON API has them all)`)));
      break;
    }
    const v = obj[k];
    table.append(el("tr", {}, el("td", {}, k), el("td", { class: "mono" }, typeof v === "object" ? JSON.stringify(v) : v)));
  }
  return table;
}

function showSpan(s, t0) {
  const box = $("#span-details");
  box.replaceChildren(
    el("h3", {}, s.name),
    detailsTable({
      service: s.service + (s.service_version ? " " + s.service_version : ""),
      kind: s.kind, status: s.status + (s.status_message ? ": " + s.status_message : ""),
      duration: ms(s.duration_ms) + " ms", "starts at": ms((s.start_ns - t0) / 1e6) + " ms",
      "span id": s.span_id, "parent id": s.parent_span_id || "—", scope: s.scope,
    }),
    el("h3", {}, "Attributes"), detailsTable(s.attributes),
    el("h3", {}, "Events (" + s.events.length + ")"),
    ...s.events.slice(0, DETAILS_MAX).map((e) => el("div", { class: "event" },
      el("strong", {}, e.name + (e.time_ns ? " @ " + ms((e.time_ns - t0) / 1e6) + " ms" : " (no timestamp)")), detailsTable(e.attributes))),
    el("h3", {}, "Links (" + s.links.length + ")"),
    ...s.links.slice(0, DETAILS_MAX).map((l) => el("div", {}, el("a", { href: "#/trace/" + l.trace_id, class: "mono" }, l.trace_id + " / " + l.span_id))),
    el("h3", {}, "Resource"), detailsTable(s.resource));
}

// Rows are built and added a chunk at a time, the next chunk on demand: a trace of 150,000
// spans would otherwise be 150,000 rows built at once (and spread into one call).
const WATERFALL_CHUNK = 2000;

async function showTrace(id) {
  const data = await api("/api/traces/" + encodeURIComponent(id)).catch(() => null);
  const box = $("#waterfall");
  if (!data) { $("#trace-title").textContent = "Trace " + id + " not found"; box.replaceChildren(); return; }
  const spans = data.spans;
  let t0 = Infinity, end = -Infinity;  // a loop, not Math.min(...spans): no argument limit
  for (const s of spans) { t0 = Math.min(t0, s.start_ns); end = Math.max(end, s.end_ns); }
  const total = Math.max(1, end - t0);
  const services = new Set(spans.map((s) => s.service));
  $("#trace-title").textContent = `Trace ${id} · ${ms(total / 1e6)} ms · ${spans.length} spans · ${services.size} services`;
  const buildRow = ([s, depth]) => {
    const left = ((s.start_ns - t0) / total) * 100;
    const width = Math.max(0.2, ((s.end_ns - s.start_ns) / total) * 100);
    const bar = el("div", { class: `wf-bar k-${s.kind}${s.status === "ERROR" ? " error" : ""}` });
    bar.style.left = left + "%";
    bar.style.width = width + "%";
    const dur = el("span", { class: "wf-dur" }, ms(s.duration_ms) + " ms");
    dur.style.left = Math.min(92, left + width + 0.5) + "%";
    const track = el("div", { class: "wf-track" }, bar, dur);
    for (const e of s.events) {
      const mark = el("div", { class: "wf-event", title: e.name });
      mark.style.left = ((e.time_ns - t0) / total) * 100 + "%";
      track.append(mark);
    }
    const label = el("div", { class: "wf-label" }, s.name, el("span", { class: "svc" }, s.service));
    label.style.paddingLeft = 6 + depth * 14 + "px";
    const row = el("div", { class: "wf-row", "data-span": s.span_id }, label, track);
    row.addEventListener("click", () => {
      box.querySelectorAll(".selected").forEach((r) => r.classList.remove("selected"));
      row.classList.add("selected");
      showSpan(s, t0);
    });
    return row;
  };
  const order = treeOrder(spans);
  box.replaceChildren();
  let done = 0;
  const more = el("button", { class: "wf-more" });
  const next = () => {
    more.remove();
    const chunk = order.slice(done, done + WATERFALL_CHUNK).map(buildRow);
    done += chunk.length;
    box.append(...chunk);
    if (done < order.length) {
      more.textContent = `Show ${Math.min(WATERFALL_CHUNK, order.length - done)} more of ${order.length - done} spans`;
      box.append(more);
    }
  };
  more.addEventListener("click", next);
  next();
  const first = box.querySelector(".wf-row");
  if (first) first.click();
}

// ---- routes, health, versions -------------------------------------------------------------
async function showRoutes() {
  const [routes, health, trends] = await Promise.all([
    api("/api/routes", windowParam()), api("/api/health", windowParam()), api("/api/trends", windowParam())]);
  const flags = new Map(trends.routes.map((t) => [t.service + " " + t.subject, t]));
  fill($("#route-table tbody"), routes.routes.map((r) => {
    const t = flags.get(r.service + " " + r.route);
    const trend = t && t.previous ? `P95 was ${ms(t.previous.p95_ms)} ms` : "new";
    return el("tr", { class: "clickable", onclick: () => { location.hash = "#/bottlenecks/" + encodeURIComponent(r.service + "\n" + r.route); } },
      el("td", {}, r.service), el("td", {}, r.route), num(r.requests), num(r.throughput_per_s.toFixed(2)),
      el("td", { class: r.error_rate > 0 ? "err num" : "num" }, pct(r.error_rate)),
      num(ms(r.p50_ms)), num(ms(r.p95_ms)), num(ms(r.p99_ms)),
      el("td", { class: t && t.regressions.length ? "flag" : "muted" }, t && t.regressions.length ? "regression: " + t.regressions.join(", ") : trend));
  }));
  fill($("#health-table tbody"), health.health.map((h) => el("tr", {},
    el("td", {}, h.service), el("td", { class: h.score < 70 ? "err num" : "num" }, h.score.toFixed(1)),
    num(h.previous_score === null ? "—" : h.previous_score.toFixed(1)), num(h.requests), num(h.errors))));
  fill($("#version-table tbody"), trends.versions.map((t) => el("tr", {},
    el("td", {}, t.service), el("td", {}, t.subject), num(t.current.requests), num(pct(t.current.error_rate)),
    num(ms(t.current.p95_ms)), el("td", { class: "flag" }, t.regressions.join(", ")))));
}

// ---- dependency map -----------------------------------------------------------------------
function layout(nodes, edges) {
  // Layers by longest path from the nodes nobody calls; cycles are cut by a depth bound.
  const depth = new Map(nodes.map((n) => [n.id, 0]));
  for (let i = 0; i < nodes.length; i++) {
    let changed = false;
    for (const e of edges) {
      if (e.source === e.target) continue;
      const d = depth.get(e.source) + 1;
      if (d > depth.get(e.target) && d < nodes.length) { depth.set(e.target, d); changed = true; }
    }
    if (!changed) break;
  }
  const layers = [];
  for (const n of nodes) (layers[depth.get(n.id)] ||= []).push(n);
  return layers.filter(Boolean);
}

async function showMap() {
  const map = await api("/api/map", windowParam());
  const root = $("#map");
  const W = Math.max(root.clientWidth || 900, 600), NODE_W = 170, NODE_H = 46;
  const layers = layout(map.nodes, map.edges);
  const H = Math.max(480, Math.max(1, ...layers.map((l) => l.length)) * 90 + 40);
  root.setAttribute("viewBox", `0 0 ${W} ${H}`);
  root.style.height = H + "px";
  const pos = new Map();
  layers.forEach((layer, i) => {
    const x = 20 + (layers.length === 1 ? (W - NODE_W) / 2 - 20 : (i * (W - NODE_W - 40)) / (layers.length - 1));
    layer.forEach((n, j) => pos.set(n.id, { x, y: ((j + 1) * H) / (layer.length + 1) - NODE_H / 2 }));
  });
  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z" }));
  defs.append(marker);
  const parts = [defs];
  for (const e of map.edges) {
    const a = pos.get(e.source), b = pos.get(e.target);
    if (!a || !b) continue;
    const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
    const mx = (x1 + x2) / 2;
    const bad = e.error_rate >= 0.05;
    parts.push(svg("path", { class: "edge" + (bad ? " bad" : ""), d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`, "marker-end": "url(#arrow)", "data-edge": e.source + "->" + e.target }));
    parts.push(svg("text", { class: "edge-label", x: mx, y: (y1 + y2) / 2 - 4, "text-anchor": "middle" },
      `${e.calls} calls · ${pct(e.error_rate)} err · P95 ${ms(e.p95_ms)} ms`));
  }
  for (const n of map.nodes) {
    const p = pos.get(n.id);
    const g = svg("g", { class: `node ${n.kind}${n.error_rate >= 0.05 ? " bad" : ""}`, transform: `translate(${p.x},${p.y})`, "data-node": n.id });
    g.append(svg("rect", { width: NODE_W, height: NODE_H, rx: 6 }));
    g.append(svg("text", { x: 10, y: 19 }, n.id.length > 22 ? n.id.slice(0, 21) + "…" : n.id));
    g.append(svg("text", { class: "sub", x: 10, y: 35 }, `${n.kind} · ${n.calls} · P95 ${ms(n.p95_ms)} ms`));
    g.append(svg("title", {}, `${n.id} (${n.kind}): ${n.calls} calls, ${pct(n.error_rate)} errors, P95 ${ms(n.p95_ms)} ms`));
    parts.push(g);
  }
  root.replaceChildren(...parts);
  fill($("#edge-table tbody"), map.edges.map((e) => el("tr", {},
    el("td", {}, e.source), el("td", {}, e.target), num(e.calls),
    el("td", { class: e.error_rate > 0 ? "err num" : "num" }, pct(e.error_rate)), num(ms(e.p95_ms)))));
}

// ---- errors -------------------------------------------------------------------------------
async function showErrors() {
  const { errors } = await api("/api/errors", windowParam());
  fill($("#error-table tbody"), errors.map((g) => el("tr", {},
    el("td", {}, g.service), el("td", { class: "err" }, g.exception_type), el("td", { class: "mono" }, g.message),
    el("td", { class: "mono" }, g.top_frame), num(g.count), num(g.traces),
    el("td", {}, when(g.first_seen_ns)), el("td", {}, when(g.last_seen_ns)),
    el("td", {}, ...g.example_traces.map((id) => el("div", {}, traceLink(id)))))));
}

// ---- bottlenecks --------------------------------------------------------------------------
async function showBottlenecks(selected) {
  const { routes } = await api("/api/routes", windowParam());
  const select = $("#bottleneck-route");
  select.replaceChildren(...routes.map((r) => el("option", { value: r.service + "\n" + r.route }, `${r.service} · ${r.route} (P95 ${ms(r.p95_ms)} ms)`)));
  if (!routes.length) { $("#bottleneck-summary").textContent = "No requests in this window."; return; }
  const slowest = routes.slice().sort((a, b) => b.p95_ms * b.requests - a.p95_ms * a.requests)[0];
  select.value = selected || slowest.service + "\n" + slowest.route;
  const [service, route] = select.value.split("\n");
  const data = await api("/api/bottlenecks", { ...windowParam(), service, route });
  const b = data.bottleneck;
  if (b) {
    $("#bottleneck-summary").replaceChildren(el("p", {},
      `${b.traces.length} slow requests (≥ ${ms(b.threshold_ms)} ms, the route's P90), mean ${ms(b.mean_duration_ms)} ms. Self time on the critical path:`));
    const max = Math.max(...Object.values(b.self_time_ms), 1e-9);
    $("#bottleneck-bars").replaceChildren(...Object.entries(b.self_time_ms).sort((x, y) => y[1] - x[1]).map(([name, v]) => {
      const fill = el("div", { class: "bar-fill c-" + name.replace(/ /g, "-") });
      fill.style.width = (v / max) * 100 + "%";
      return el("div", { class: "bar-row", "data-component": name }, el("span", {}, name), el("div", { class: "bar-track" }, fill),
        el("span", { class: "num" }, `${ms(v)} ms · ${pct(b.share[name])}`));
    }));
  }
  fill($("#statement-table tbody"), data.slow_statements.map((s) => el("tr", {},
    el("td", {}, s.service), el("td", {}, s.db_system), el("td", { class: "mono" }, s.statement),
    num(s.calls), num(ms(s.total_ms)), num(ms(s.p95_ms)))));
  fill($("#nplus1-table tbody"), data.n_plus_one.map((p) => el("tr", {},
    el("td", {}, p.service), el("td", {}, p.parent), el("td", { class: "mono" }, p.statement),
    num(p.traces), num(p.max_repeats), el("td", {}, traceLink(p.example_trace)))));
}

// ---- routing ------------------------------------------------------------------------------
async function route() {
  const [, view = "traces", arg] = location.hash.split("/");
  const name = view === "trace" ? "trace" : view;
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === "view-" + name));
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === (name === "trace" ? "traces" : name)));
  status("");
  delete document.body.dataset.ready;
  try {
    if (name === "traces") { await loadServices(); await search(); }
    else if (name === "trace") await showTrace(decodeURIComponent(arg || ""));
    else if (name === "routes") await showRoutes();
    else if (name === "map") await showMap();
    else if (name === "errors") await showErrors();
    else if (name === "bottlenecks") await showBottlenecks(arg ? decodeURIComponent(arg) : undefined);
    document.body.dataset.ready = name;
  } catch (err) {
    status("Error: " + err.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#search").addEventListener("submit", search);
  $("#window").addEventListener("change", route);
  $("#bottleneck-route").addEventListener("change", (e) => { location.hash = "#/bottlenecks/" + encodeURIComponent(e.target.value); });
  window.addEventListener("hashchange", route);
  route();
});
