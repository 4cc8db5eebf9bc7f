// saler-trace web view: shared helpers, the URL state, routing and live updates. No framework,
// no CDN: DOM built with textContent only (never innerHTML with data), so span names and
// attributes cannot inject markup. The views live in the other scripts of static/.
"use strict";

const $ = (sel) => document.querySelector(sel);
const SVG = "http://www.w3.org/2000/svg";
// What tests (and curious people, from the console) can read: the charts as plotted, requests.
window.saler = { charts: {}, requests: 0, renders: 0 };

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

// ---- API with ETag revalidation -----------------------------------------------------------
// Each answer is kept with its ETag; asking again sends If-None-Match, and a 304 (no new data
// since) reuses the kept answer without the server running the query.
const kept = new Map();
async function api(path, params) {
  const qs = new URLSearchParams(params || {});
  const url = path + (qs.toString() ? "?" + qs : "");
  const old = kept.get(url);
  const headers = { accept: "application/json" };
  if (old) headers["if-none-match"] = old.etag;
  window.saler.requests++;
  const res = await fetch(url, { headers });
  if (res.status === 304 && old) return old.data;
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  const data = await res.json();
  const etag = res.headers.get("etag");
  if (etag) {
    if (kept.size > 200) kept.clear();
    kept.set(url, { etag, data });
  }
  return data;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
  if (!rows.length) tbody.append(el("tr", {}, el("td", { colspan: "9", class: "muted" }, "nothing in this window")));
}
function traceLink(id) {
  return el("a", { href: "#/trace/" + id, class: "mono" }, id.slice(0, 12) + "…");
}

// ---- URL state ----------------------------------------------------------------------------
// Everything a view shows comes from the hash, #/view/arg?filters: a pasted link opens the same
// view, and every change is a history entry, so the back button undoes it.
function state() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const [, view = "traces", ...args] = path.split("/");
  return { view: view || "traces", args: args.map(decodeURIComponent), params: new URLSearchParams(query) };
}
function href(view, args, params) {
  const p = new URLSearchParams(params);
  for (const [k, v] of [...p.entries()]) if (v === "" || v === null || v === undefined) p.delete(k);
  const since = $("#window").value;
  if (since !== "3600" && !p.has("since")) p.set("since", since);
  if (!$("#live").checked) p.set("live", "0");
  const tail = (args || []).map(encodeURIComponent).join("/");
  return "#/" + view + (tail ? "/" + tail : "") + (p.toString() ? "?" + p : "");
}
function navigate(view, args, params) {
  const target = href(view, args, params);
  if (target !== location.hash) location.hash = target;
}
// The same view with some parameters changed (null removes one).
function update(changes) {
  const s = state();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === "") s.params.delete(k);
    else s.params.set(k, v);
  }
  navigate(s.view, s.args, s.params);
}
const windowParam = () => ({ since: $("#window").value });

// ---- routing ------------------------------------------------------------------------------
const VIEWS = {
  charts: (s) => showCharts(s),
  traces: (s) => showSearch(s),
  trace: (s) => showTrace(s.args[0] || "", s),
  compare: (s) => showCompare(s.args[0] || "", s.args[1] || ""),
  routes: () => showRoutes(),
  map: () => showMap(),
  errors: () => showErrors(),
  bottlenecks: (s) => showBottlenecks(s.args[0]),
};
const LIVE_VIEWS = new Set(["charts", "traces", "routes", "map", "errors"]);

async function route(live) {
  const s = state();
  const name = VIEWS[s.view] ? s.view : "traces";
  $("#window").value = s.params.get("since") || "3600";
  $("#live").checked = s.params.get("live") !== "0";
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === "view-" + name));
  const tab = name === "trace" || name === "compare" ? "traces" : name;
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === tab));
  if (!live) { status(""); delete document.body.dataset.ready; }
  try {
    await VIEWS[name](s);
    window.saler.renders++;
    document.body.dataset.ready = name;
  } catch (err) {
    status("Error: " + err.message);
  }
}

// ---- live updates -------------------------------------------------------------------------
// Polls /api/changes (a 304 while nothing new was stored) and redraws the view when data came.
// The next poll waits a second for every request the last round made: at most one a second.
let version = null;
async function liveTick() {
  const before = window.saler.requests;
  try {
    if ($("#live").checked && LIVE_VIEWS.has(state().view) && !document.hidden) {
      const { version: now } = await api("/api/changes");
      if (version !== null && now !== version) await route(true);
      version = now;
      document.body.dataset.version = now;
    }
  } catch (err) {
    status("live: " + err.message);
  }
  setTimeout(liveTick, 1000 * Math.max(1, window.saler.requests - before));
}

document.addEventListener("DOMContentLoaded", () => {
  setupViews();
  $("#window").addEventListener("change", () => update({ since: $("#window").value, range: null, brush: null }));
  $("#live").addEventListener("change", () => update({ live: $("#live").checked ? null : "0" }));
  window.addEventListener("hashchange", () => route(false));
  route(false).then(() => setTimeout(liveTick, 1000));
});
