// One trace: the waterfall with the critical path marked, self time per span and subtrees that
// fold; and two traces compared span by span.
"use strict";

function treeOrder(spans) {
  const ids = new Set(spans.map((s) => s.span_id));
  const kids = new Map();
  for (const s of spans) {
    const parent = ids.has(s.parent_span_id) ? s.parent_span_id : "";
    if (!kids.has(parent)) kids.set(parent, []);
    kids.get(parent).push(s);
  }
  const out = [];
  const walk = (parent, depth, ancestors) => {
    for (const s of (kids.get(parent) || []).sort((a, b) => a.start_ns - b.start_ns)) {
      out.push({ span: s, depth, ancestors, children: (kids.get(s.span_id) || []).length });
      walk(s.span_id, depth + 1, [...ancestors, s.span_id]);
    }
  };
  walk("", 0, []);
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

function logLine(l, t0) {
  const level = l.severity_text || "LOG";
  return el("div", { class: "wf-log-line" + (l.severity_number >= 17 ? " error" : ""), "data-span": l.span_id },
    el("span", { class: "wf-log-level" }, level), el("span", { class: "muted" }, " @ " + ms((l.time_ns - t0) / 1e6) + " ms "),
    el("span", { class: "mono" }, l.body));
}

function showSpan(s, t0, logs) {
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
    el("h3", {}, "Logs (" + logs.length + ")"),
    ...logs.slice(0, DETAILS_MAX).map((l) => el("div", { class: "event" }, logLine(l, t0), detailsTable(l.attributes))),
    el("h3", {}, "Events (" + s.events.length + ")"),
    ...s.events.slice(0, DETAILS_MAX).map((e) => el("div", { class: "event" },
      el("strong", {}, e.name + (e.time_ns ? " @ " + ms((e.time_ns - t0) / 1e6) + " ms" : " (no timestamp)")), detailsTable(e.attributes))),
    el("h3", {}, "Links (" + s.links.length + ")"),
    ...s.links.slice(0, DETAILS_MAX).map((l) => el("div", {}, el("a", { href: "#/trace/" + l.trace_id, class: "mono" }, l.trace_id + " / " + l.span_id))),
    el("h3", {}, "Resource"), detailsTable(s.resource));
}

function criticalSummary(data) {
  const total = Object.values(data.critical_ms).reduce((a, b) => a + b, 0) || 1;
  return el("div", { id: "critical-summary" }, el("span", { class: "muted" }, "Critical path: "),
    ...Object.entries(data.critical_ms).sort((a, b) => b[1] - a[1]).map(([name, v]) =>
      el("span", { class: "crit-part", "data-component": name, "data-ms": String(v) }, `${name} ${ms(v)} ms (${pct(v / total)})`)));
}

// Rows are built and added a chunk at a time, the next chunk on demand: a trace of 150,000
// spans would otherwise be 150,000 rows built at once (and spread into one call).
const WATERFALL_CHUNK = 2000;

async function showTrace(id, s) {
  const data = await api("/api/traces/" + encodeURIComponent(id)).catch(() => null);
  const box = $("#waterfall");
  if (!data) { $("#trace-title").textContent = "Trace " + id + " not found"; box.replaceChildren(); $("#critical").replaceChildren(); return; }
  const spans = data.spans;
  let t0 = Infinity, end = -Infinity;  // a loop, not Math.min(...spans): no argument limit
  for (const x of spans) { t0 = Math.min(t0, x.start_ns); end = Math.max(end, x.end_ns); }
  const total = Math.max(1, end - t0);
  const services = new Set(spans.map((x) => x.service));
  $("#trace-title").textContent = `Trace ${id} · ${ms(total / 1e6)} ms · ${spans.length} spans · ${services.size} services`;
  $("#critical").replaceChildren(criticalSummary(data));
  const onPath = new Map();
  for (const seg of data.critical_path) (onPath.get(seg.span_id) || onPath.set(seg.span_id, []).get(seg.span_id)).push(seg);
  const logsOf = new Map();
  for (const l of data.logs || []) (logsOf.get(l.span_id) || logsOf.set(l.span_id, []).get(l.span_id)).push(l);
  const collapsed = new Set();
  const pos = (ns) => ((ns - t0) / total) * 100;
  const buildRow = ({ span: x, depth, ancestors, children }) => {
    const left = pos(x.start_ns);
    const width = Math.max(0.2, ((x.end_ns - x.start_ns) / total) * 100);
    const bar = el("div", { class: `wf-bar k-${x.kind}${x.status === "ERROR" ? " error" : ""}` });
    bar.style.left = left + "%";
    bar.style.width = width + "%";
    const self = data.self_ms[x.span_id] ?? x.duration_ms;
    const dur = el("span", { class: "wf-dur" }, `${ms(x.duration_ms)} ms · self ${ms(self)}`);
    dur.style.left = Math.min(88, left + width + 0.5) + "%";
    const track = el("div", { class: "wf-track" }, bar, dur);
    for (const seg of onPath.get(x.span_id) || []) {
      const mark = el("div", { class: "wf-crit", title: "critical path" });
      mark.style.left = pos(seg.start_ns) + "%";
      mark.style.width = Math.max(0.1, pos(seg.end_ns) - pos(seg.start_ns)) + "%";
      track.append(mark);
    }
    for (const e of x.events) {
      const mark = el("div", { class: "wf-event", title: e.name });
      mark.style.left = pos(e.time_ns) + "%";
      track.append(mark);
    }
    const lines = logsOf.get(x.span_id) || [];
    for (const l of lines) {
      const mark = el("div", { class: "wf-log" + (l.severity_number >= 17 ? " error" : ""), title: `${l.severity_text} ${l.body}` });
      mark.style.left = pos(l.time_ns) + "%";
      track.append(mark);
    }
    const toggle = el("button", { class: "wf-toggle", type: "button", title: "fold this subtree" }, children ? "▾" : "");
    if (!children) toggle.disabled = true;
    const label = el("div", { class: "wf-label" }, toggle, x.name, el("span", { class: "svc" }, x.service));
    label.style.paddingLeft = 2 + depth * 14 + "px";
    const logBox = el("div", { class: "wf-logs" });
    for (const l of lines) logBox.append(logLine(l, t0));  // no argument spread: any count
    logBox.style.paddingLeft = 16 + depth * 14 + "px";
    const row = el("div", { class: "wf-row" + (onPath.has(x.span_id) ? " critical" : ""), "data-span": x.span_id, "data-self-ms": String(self) }, label, track, ...(lines.length ? [logBox] : []));
    row.dataset.ancestors = ancestors.join(" ");
    row.hidden = ancestors.some((a) => collapsed.has(a));  // a later chunk, under a fold
    toggle.addEventListener("click", (e) => {
      e.stopPropagation();
      const fold = !collapsed.has(x.span_id);
      if (fold) collapsed.add(x.span_id); else collapsed.delete(x.span_id);
      toggle.textContent = fold ? "▸" : "▾";
      row.classList.toggle("folded", fold);
      for (const r of box.querySelectorAll(".wf-row")) {
        r.hidden = r.dataset.ancestors.split(" ").some((a) => collapsed.has(a));
      }
    });
    row.addEventListener("click", () => {
      box.querySelectorAll(".selected").forEach((r) => r.classList.remove("selected"));
      row.classList.add("selected");
      showSpan(x, t0, lines);
      const wanted = href("trace", [id], { span: x.span_id });
      if (location.hash !== wanted) history.replaceState(null, "", wanted);
    });
    return row;
  };
  const order = treeOrder(spans);
  box.replaceChildren();
  let done = 0;
  const more = el("button", { class: "wf-more", type: "button" });
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
  const wanted = s && s.params.get("span");
  const at = wanted ? order.findIndex((o) => o.span.span_id === wanted) : -1;
  do next(); while (done <= at);  // a linked span in a later chunk: the chunks up to it
  const rows = box.querySelectorAll(".wf-row");
  const chosen = (at >= 0 && rows[at]) || rows[0];
  if (chosen) chosen.click();
}

// ---- comparison ---------------------------------------------------------------------------
async function showCompare(a, b) {
  const data = await api("/api/compare", { a, b });
  $("#compare-title").textContent = `Trace ${a.slice(0, 12)}… (A) against ${b.slice(0, 12)}… (B)`;
  $("#compare-summary").textContent = (data.same_root ? "" : "Not the same root operation. ") +
    `${data.only_b} spans only in B, ${data.only_a} only in A, ${data.rows.length - data.only_a - data.only_b} matched.`;
  fill($("#compare-table tbody"), data.rows.map((r) => {
    const cls = r.a === null ? "only-b" : r.b === null ? "only-a" : "";
    const name = el("td", {}, r.name + (r.occurrence > 1 ? ` #${r.occurrence}` : ""), el("span", { class: "svc" }, r.service));
    name.style.paddingLeft = 8 + r.depth * 14 + "px";
    const delta = r.delta_ms === null ? (r.a === null ? "only in B" : "only in A") : (r.delta_ms >= 0 ? "+" : "") + ms(r.delta_ms) + " ms";
    return el("tr", { class: cls, "data-name": r.name },
      name,
      num(r.a ? ms(r.a.duration_ms) + " ms" : "—"),
      num(r.b ? ms(r.b.duration_ms) + " ms" : "—"),
      el("td", { class: "num" + (r.delta_ms !== null && Math.abs(r.delta_ms) >= 1 ? (r.delta_ms > 0 ? " err" : " better") : "") }, delta));
  }));
  $("#compare-links").replaceChildren("Open ", traceLink(a), " · ", traceLink(b));
}
