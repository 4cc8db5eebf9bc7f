// Trace search: the filters (kept in the URL), the duration scatter above the results (start
// time × duration, errors in red; drag a box to filter the list, click a dot to open the
// trace) and the pick of two traces to compare.
"use strict";

const SEARCH_FIELDS = ["service", "route", "status", "min_ms", "attr", "limit"];
let found = [];

async function loadServices() {
  const { services } = await api("/api/services");
  const select = $("#search select[name=service]");
  const current = select.value;
  select.replaceChildren(el("option", { value: "" }, "any"), ...services.map((s) => el("option", { value: s }, s)));
  select.value = current;
}

function submitSearch(event) {
  event.preventDefault();
  const changes = { brush: null };
  for (const name of SEARCH_FIELDS) changes[name] = $(`#search [name=${name}]`).value;
  update(changes);
}

async function showSearch(s) {
  await loadServices();
  const params = {};
  for (const name of SEARCH_FIELDS) {
    $(`#search [name=${name}]`).value = s.params.get(name) || (name === "limit" ? "100" : "");
    if (s.params.get(name)) params[name] = s.params.get(name);
  }
  params.since = $("#window").value;
  const { traces } = await api("/api/traces", params);
  found = traces;
  $("#trace-results").dataset.query = new URLSearchParams(params).toString();
  drawScatter(traces, s.params.get("brush"));
  listTraces(traces, s.params.get("brush"));
}

function inBrush(t, brush) {
  if (!brush) return true;
  const [x0, x1, y0, y1] = brush.split(",").map(Number);
  const x = t.start_ns / 1e9;
  return x >= x0 && x <= x1 && t.duration_ms >= y0 && t.duration_ms <= y1;
}

function listTraces(traces, brush) {
  const shown = traces.filter((t) => inBrush(t, brush));
  $("#brush-info").textContent = brush ? `${shown.length} of ${traces.length} traces in the selected box` : "";
  $("#clear-brush").hidden = !brush;
  status(brush ? "" : traces.length + " traces");
  const checked = new Set([...document.querySelectorAll("#trace-results input:checked")].map((c) => c.value));
  fill($("#trace-results tbody"), shown.map((t) =>
    el("tr", { class: "clickable", "data-trace": t.trace_id, onclick: () => navigate("trace", [t.trace_id]) },
      el("td", { onclick: (e) => e.stopPropagation() },
        el("input", { type: "checkbox", value: t.trace_id, title: "compare", ...(checked.has(t.trace_id) ? { checked: "" } : {}), onchange: pickChanged })),
      el("td", {}, when(t.start_ns)),
      el("td", {}, t.root_service + " · " + t.root_name),
      num(ms(t.duration_ms) + " ms"),
      num(t.span_count),
      el("td", { class: t.error_count ? "err num" : "num" }, t.error_count),
      el("td", {}, t.services.join(", ")),
      el("td", {}, traceLink(t.trace_id)))));
  pickChanged();
}

function pickChanged() {
  const picked = document.querySelectorAll("#trace-results input:checked");
  $("#compare-button").disabled = picked.length !== 2;
}
function compareSelected() {
  // A is the earlier of the two, B the later (a trace before a deploy against one after it).
  const ticked = new Set([...document.querySelectorAll("#trace-results input:checked")].map((c) => c.value));
  const [a, b] = found.filter((t) => ticked.has(t.trace_id)).sort((x, y) => x.start_ns - y.start_ns).map((t) => t.trace_id);
  if (a && b) navigate("compare", [a, b]);
}

// ---- the scatter --------------------------------------------------------------------------
function drawScatter(traces, brush) {
  const box = $("#scatter");
  if (window.saler.scatter) window.saler.scatter.destroy();
  window.saler.scatter = null;
  box.replaceChildren();
  if (!traces.length) return;
  const sorted = traces.slice().sort((a, b) => a.start_ns - b.start_ns);
  const xs = sorted.map((t) => t.start_ns / 1e9);
  const ok = sorted.map((t) => (t.error_count ? null : t.duration_ms));
  const bad = sorted.map((t) => (t.error_count ? t.duration_ms : null));
  const dots = (color) => ({ stroke: color, fill: color, paths: () => null, points: { show: true, size: 7, width: 1 } });
  let down = null;
  const u = new uPlot({
    width: Math.max(400, box.clientWidth || 900), height: 200,
    cursor: { drag: { x: true, y: true, uni: 0, setScale: false }, points: { show: false } },
    legend: { show: false },
    scales: { x: { time: true }, y: { range: (_u, min, max) => [0, max * 1.1 || 1] } },
    axes: [{}, { label: "ms", size: 60 }],
    series: [{}, { label: "ok", ...dots("#2f6fdf") }, { label: "error", ...dots("#c8313a") }],
    hooks: {
      // The box of a restored link, drawn once the scales exist.
      ready: [(u) => {
        if (!brush) return;
        const [x0, x1, y0, y1] = brush.split(",").map(Number);
        const left = u.valToPos(x0, "x"), top = u.valToPos(y1, "y");
        u.setSelect({ left, top, width: u.valToPos(x1, "x") - left, height: u.valToPos(y0, "y") - top }, false);
      }],
      setSelect: [(u) => {
        const { left, top, width, height } = u.select;
        if (width < 3 || height < 3) return;
        const b = [u.posToVal(left, "x"), u.posToVal(left + width, "x"),
          u.posToVal(top + height, "y"), u.posToVal(top, "y")];
        update({ brush: b.map((v) => +v.toFixed(3)).join(",") });
      }],
    },
  }, [xs, ok, bad], box);
  u.over.addEventListener("mousedown", (e) => { down = [e.clientX, e.clientY]; });
  u.over.addEventListener("click", (e) => {
    if (down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 3) return;  // a drag
    // Relative to the plot, not to e.target: that may be uPlot's cursor line under the pointer.
    const box = u.over.getBoundingClientRect();
    const t = nearestDot(u, sorted, e.clientX - box.left, e.clientY - box.top);
    if (t) navigate("trace", [t.trace_id]);
  });
  window.saler.scatter = u;
}

function nearestDot(u, sorted, x, y) {
  let best = null, dist = 8;  // px: a click must land on a dot
  for (const t of sorted) {
    const d = Math.hypot(u.valToPos(t.start_ns / 1e9, "x") - x, u.valToPos(t.duration_ms, "y") - y);
    if (d < dist) { best = t; dist = d; }
  }
  return best;
}
