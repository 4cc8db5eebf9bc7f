// RED charts over time (uPlot): request and error rate, error share, P50/P95/P99 and the health
// score, for the whole window or one service or route; deploys (a new service.version) drawn
// as vertical lines. Dragging across a chart zooms all of them; the range goes in the URL.
"use strict";

const CHARTS = [
  { id: "rate", title: "Requests / s", series: [["requests/s", "#2f6fdf", (b) => b.rate_per_s], ["errors/s", "#c8313a", (b) => b.rate_per_s * b.error_rate]] },
  { id: "errors", title: "Error rate %", series: [["error rate %", "#c8313a", (b) => (b.requests ? b.error_rate * 100 : null)]] },
  { id: "latency", title: "Latency ms", series: [["P50", "#2bb3a3", (b) => b.p50_ms], ["P95", "#e59a2f", (b) => b.p95_ms], ["P99", "#9b6bdf", (b) => b.p99_ms]] },
  { id: "health", title: "Health score", series: [["score", "#16a34a", (b) => b.health]] },
];

async function chartScopeOptions(service) {
  const { services } = await api("/api/services");
  const svc = $("#chart-service");
  svc.replaceChildren(el("option", { value: "" }, "all services"), ...services.map((x) => el("option", { value: x }, x)));
  svc.value = service;
  const { routes } = await api("/api/routes", windowParam());
  const mine = routes.filter((r) => !service || r.service === service);
  const names = [...new Set(mine.map((r) => r.route))].sort();
  $("#chart-route").replaceChildren(el("option", { value: "" }, "all routes"), ...names.map((x) => el("option", { value: x }, x)));
}

function chartScopeChanged(e) {
  const service = $("#chart-service").value;
  const route = e.target.id === "chart-service" ? "" : $("#chart-route").value;
  update({ service, route, range: null });
}

// Deploys as dashed vertical lines with the version, drawn on uPlot's canvas after each redraw.
function deployLines(deploys) {
  return {
    hooks: {
      draw: [(u) => {
        const { ctx, bbox } = u;
        ctx.save();
        ctx.strokeStyle = "#111827";
        ctx.fillStyle = "#111827";
        ctx.setLineDash([4, 3]);
        ctx.font = `${11 * devicePixelRatio}px system-ui`;
        for (const d of deploys) {
          const x = Math.round(u.valToPos(d.at_ns / 1e9, "x", true));
          if (x < bbox.left || x > bbox.left + bbox.width) continue;
          ctx.beginPath();
          ctx.moveTo(x, bbox.top);
          ctx.lineTo(x, bbox.top + bbox.height);
          ctx.stroke();
          ctx.fillText(`${d.service} ${d.version}`, x + 3, bbox.top + 12 * devicePixelRatio);
        }
        ctx.restore();
      }],
    },
  };
}

// Dragging across a chart selects a time range: it goes into the URL, and the charts are drawn
// again over it (so the back button returns to the whole window).
function selected(u) {
  const { left, width } = u.select;
  if (width < 3) return;
  update({ range: `${Math.floor(u.posToVal(left, "x"))},${Math.ceil(u.posToVal(left + width, "x"))}` });
}

async function showCharts(s) {
  const service = s.params.get("service") || "";
  const route = s.params.get("route") || "";
  await chartScopeOptions(service);
  $("#chart-route").value = route;
  const data = await api("/api/timeseries", { ...windowParam(), service, route });
  const scope = [service || "all services", route].filter(Boolean).join(" · ");
  $("#charts-title").textContent = `${scope}: ${data.buckets.length} buckets of ${data.step_s} s`;
  for (const name of ["rate", "errors", "latency", "health"]) {
    if (window.saler.charts[name]) window.saler.charts[name].destroy();
    delete window.saler.charts[name];
  }
  const xs = data.buckets.map((b) => b.start_ns / 1e9);
  const range = s.params.get("range");
  const x = { time: true };
  if (range) {
    const [min, max] = range.split(",").map(Number);
    x.range = () => [min, max];
  }
  const box = $("#charts");
  box.replaceChildren();
  const width = Math.max(420, Math.floor(((box.clientWidth || 1200) - 16) / 2));
  for (const chart of CHARTS) {
    const holder = el("div", { class: "chart", "data-chart": chart.id }, el("h3", {}, chart.title));
    box.append(holder);
    const series = chart.series.map(([label, color, pick]) => ({ label, stroke: color, width: 1.5, value: (_u, v) => (v === null || v === undefined ? "—" : (+v).toFixed(2)), _pick: pick }));
    const plotted = [xs, ...series.map((x) => data.buckets.map(x._pick))];
    for (const x of series) delete x._pick;
    window.saler.charts[chart.id] = new uPlot({
      width, height: 190,
      cursor: { sync: { key: "saler" }, drag: { x: true, y: false, setScale: false } },
      scales: { x, y: chart.id === "health" ? { range: [0, 100] } : { range: (_u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{}, { size: 56 }],
      series: [{}, ...series],
      plugins: [deployLines(data.deploys)],
      hooks: { setSelect: [selected] },
    }, plotted, holder);
  }
  $("#reset-range").hidden = !range;
  $("#deploys").replaceChildren(...data.deploys.map((d) =>
    el("li", { "data-deploy": d.service + " " + d.version, "data-at": String(d.at_ns) }, `${when(d.at_ns)} · ${d.service} ${d.previous_version} → ${d.version}`)));
  if (!data.deploys.length) $("#deploys").append(el("li", { class: "muted" }, "no deploy in this window"));
}
