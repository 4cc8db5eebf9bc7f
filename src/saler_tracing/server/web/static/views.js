// Table views: routes with health and versions, the dependency map, error groups, bottlenecks.
"use strict";

// ---- routes, health, versions -------------------------------------------------------------
async function showRoutes() {
  const [routes, health, trends] = await Promise.all([
    api("/api/routes", windowParam()), api("/api/health", windowParam()), api("/api/trends", windowParam())]);
  const flags = new Map(trends.routes.map((t) => [t.service + " " + t.subject, t]));
  fill($("#route-table tbody"), routes.routes.map((r) => {
    const t = flags.get(r.service + " " + r.route);
    const trend = t && t.previous ? `P95 was ${ms(t.previous.p95_ms)} ms` : "new";
    return el("tr", { class: "clickable", "data-route": r.route, onclick: () => navigate("bottlenecks", [r.service + "\n" + r.route]) },
      el("td", {}, r.service), el("td", {}, r.route, " ",
        el("a", { href: href("charts", [], { service: r.service, route: r.route }), class: "chart-link", onclick: (e) => e.stopPropagation() }, "chart")), num(r.requests), num(r.throughput_per_s.toFixed(2)),
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
    el("td", {}, ...g.example_traces.map((id) => el("div", {}, traceLink(id)))),
    el("td", { class: "error-logs" }, ...(g.logs || []).map((l) => el("div", { class: "mono" + (l.severity_number >= 17 ? " err" : "") },
      `${l.severity_text} ${l.body}`))))));
}

// ---- bottlenecks --------------------------------------------------------------------------
async function showBottlenecks(selected) {
  $("#bottleneck-summary").replaceChildren();
  $("#bottleneck-bars").replaceChildren();
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


function setupViews() {
  $("#search").addEventListener("submit", submitSearch);
  $("#compare-button").addEventListener("click", compareSelected);
  $("#clear-brush").addEventListener("click", () => update({ brush: null }));
  $("#chart-scope").addEventListener("change", chartScopeChanged);
  $("#reset-range").addEventListener("click", () => update({ range: null }));
  $("#bottleneck-route").addEventListener("change", (e) => navigate("bottlenecks", [e.target.value]));
}
