// The /ops page: polls GET /api/ops/summary, follows GET /api/ops/audit/stream.
// Every request carries the viewer's API key (Authorization: Bearer) when one was
// given: it is asked for once, on the first 401/403, and kept in sessionStorage (this
// tab only). The audit stream is read with fetch(), not EventSource, which cannot send
// that header.
"use strict";

const KEY_STORAGE = "inventory-stream.api-key";
const SUMMARY_EVERY_MS = 1000;
const STREAM_RETRY_MS = 2000;
const AUDIT_ROWS_KEPT = 200;
const SOON_SECONDS = 30;

const $ = (selector) => document.querySelector(selector);
let serverOffsetMs = 0; // server clock minus ours: countdowns follow the server's time
let holdsShown = new Map(); // reservation id -> expires_at (ms)
let streamAbort = null;

class NeedsKey extends Error {}

function apiKey() { return sessionStorage.getItem(KEY_STORAGE) || ""; }

async function apiFetch(path, init = {}) {
  const headers = new Headers(init.headers || {});
  const key = apiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  const response = await fetch(path, { ...init, headers });
  if (response.status === 401 || response.status === 403) {
    askForKey(key ? "this key is not allowed to view operations" : "");
    throw new NeedsKey(String(response.status));
  }
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response;
}

function askForKey(message) {
  $("#key-form").hidden = false;
  $("#key-error").textContent = message;
  $("#key-input").focus();
}

function setState(id, text, cls) {
  const el = $(id);
  el.textContent = text;
  el.className = `state ${cls || ""}`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("data-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

// ------------------------------------------------------------------ stock bars

function renderStock(products) {
  const box = $("#stock");
  const seen = new Set();
  products.forEach((p, index) => {
    seen.add(p.id);
    let row = box.querySelector(`.product[data-product="${CSS.escape(p.id)}"]`);
    if (!row) {
      row = el("div", { class: "product", "data-product": p.id },
        el("span", { class: "name", title: p.id }, p.name || p.id),
        el("div", { class: "bar" },
          el("span", { class: "available" }), el("span", { class: "reserved" }),
          el("span", { class: "sold" })),
        el("span", { class: "counts" },
          el("b", { "data-field": "available" }), " / ",
          el("b", { "data-field": "reserved" }), " / ",
          el("b", { "data-field": "sold" })));
    }
    for (const field of ["available", "reserved", "sold"]) {
      row.querySelector(`.bar .${field}`).style.width = `${(p.shares[field] * 100).toFixed(2)}%`;
      row.querySelector(`[data-field="${field}"]`).textContent = String(p[field]);
    }
    if (box.children[index] !== row) box.insertBefore(row, box.children[index] || null);
  });
  for (const row of [...box.children]) if (!seen.has(row.dataset.product)) row.remove();
}

// ------------------------------------------------------------------ holds

function renderHolds(holds) {
  const list = $("#holds");
  const next = new Map(holds.map((h) => [h.id, Date.parse(h.expires_at)]));
  for (const item of [...list.children]) {
    if (!next.has(item.dataset.reservation)) item.remove(); // expired, committed or released
  }
  holds.forEach((h, index) => {
    let item = list.querySelector(`li[data-reservation="${CSS.escape(h.id)}"]`);
    if (!item) {
      item = el("li", { "data-reservation": h.id, "data-product": h.product_id },
        el("span", {}, `${h.product_id} × ${h.quantity} `, el("small", {}, h.order_id)),
        el("span", { class: "countdown" }));
    }
    if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
  });
  holdsShown = next;
  $("#holds-empty").hidden = holds.length > 0;
  tickCountdowns();
}

function tickCountdowns() {
  const now = Date.now() + serverOffsetMs;
  for (const item of $("#holds").children) {
    const left = Math.max(0, (holdsShown.get(item.dataset.reservation) - now) / 1000);
    const minutes = Math.floor(left / 60);
    const seconds = Math.floor(left % 60);
    item.querySelector(".countdown").textContent =
      left > 0 ? `${minutes}:${String(seconds).padStart(2, "0")}` : "expiring";
    item.classList.toggle("soon", left <= SOON_SECONDS);
  }
}

// ------------------------------------------------------------------ orders, rate, lag

function renderOrders(counts) {
  const body = $("#orders tbody");
  body.replaceChildren(...Object.entries(counts).map(([status, n]) =>
    el("tr", { "data-status": status }, el("td", {}, status), el("td", { class: "num" }, String(n)))));
}

function renderRate(series) {
  const svg = $("#rate");
  const points = series.points;
  const peak = Math.max(1, ...points.map((p) => p.per_second));
  const width = 600 / points.length;
  const ns = "http://www.w3.org/2000/svg";
  const shapes = points.map((p, i) => {
    const rect = document.createElementNS(ns, "rect");
    const height = (p.per_second / peak) * 120;
    rect.setAttribute("x", String(i * width + 0.5));
    rect.setAttribute("y", String(130 - height));
    rect.setAttribute("width", String(Math.max(1, width - 1)));
    rect.setAttribute("height", String(height));
    const tip = document.createElementNS(ns, "title");
    tip.textContent = `${new Date(p.at * 1000).toLocaleTimeString()}: ${p.per_second.toFixed(2)}/s`;
    rect.append(tip);
    return rect;
  });
  const axis = document.createElementNS(ns, "line");
  for (const [name, v] of [["x1", 0], ["y1", 130], ["x2", 600], ["y2", 130]]) {
    axis.setAttribute(name, String(v));
  }
  svg.replaceChildren(axis, ...shapes);
  const last = points[points.length - 1];
  $("#rate-caption").textContent =
    `last ${Math.round((points.length * series.step_seconds) / 60)} min in ` +
    `${series.step_seconds} s steps; now ${last ? last.per_second.toFixed(2) : 0}/s, ` +
    `peak ${peak.toFixed(2)}/s`;
}

function renderLag(lag) {
  $("#lag-caption").textContent = `red past ${lag.threshold}`;
  const rows = [];
  for (const group of lag.consumers) {
    if (group.lag === null) {
      rows.push(el("tr", { class: "over", "data-group": group.group },
        el("td", {}, group.group), el("td", {}, "broker did not answer"), el("td"), el("td")));
      continue;
    }
    // One row per topic of the group, its partitions' lag side by side.
    const topics = new Map();
    for (const p of group.partitions) {
      if (!topics.has(p.topic)) topics.set(p.topic, []);
      topics.get(p.topic).push(p);
    }
    for (const [topic, partitions] of topics) {
      const total = partitions.reduce((sum, p) => sum + p.lag, 0);
      rows.push(el("tr", {
        class: partitions.some((p) => p.over) ? "over" : "", "data-group": group.group,
        "data-topic": topic,
      },
        el("td", {}, group.group), el("td", {}, topic),
        el("td", { class: "partitions" }, partitions.map((p) => `${p.partition}:${p.lag}`).join(" ")),
        el("td", { class: "num" }, String(total))));
    }
  }
  $("#lag tbody").replaceChildren(...rows);
  $("#projections tbody").replaceChildren(...lag.projections.map((p) =>
    el("tr", { class: p.over ? "over" : "", "data-projection": p.projection },
      el("td", {}, p.projection),
      el("td", { class: "num" }, p.lag === null ? "unknown" : String(p.lag)))));
}

async function refreshSummary() {
  try {
    const response = await apiFetch("/api/ops/summary");
    const summary = await response.json();
    serverOffsetMs = Date.parse(summary.now) - Date.now();
    renderStock(summary.products);
    renderHolds(summary.holds);
    renderOrders(summary.orders_by_status);
    renderRate(summary.reservations_per_second);
    renderLag(summary.lag);
    setState("#summary-state", "summary live", "live");
  } catch (err) {
    setState("#summary-state", err instanceof NeedsKey ? "key needed" : "summary down", "down");
  } finally {
    setTimeout(refreshSummary, SUMMARY_EVERY_MS);
  }
}

// ------------------------------------------------------------------ audit stream

function filterValue() { return $("#audit-filter").value.trim(); }

function showRow(row) {
  const wanted = filterValue();
  row.hidden = wanted !== "" && row.dataset.product !== wanted;
}

function addAuditRow(event) {
  const body = $("#audit tbody");
  if (body.querySelector(`tr[data-audit-id="${CSS.escape(event.id)}"]`)) return;
  const row = el("tr", {
    class: "fresh", "data-audit-id": event.id, "data-type": event.type,
    "data-product": event.product_id || "",
  },
    el("td", {}, new Date(event.occurred_at).toLocaleTimeString()),
    el("td", {}, event.type),
    el("td", {}, `${event.entity_type}:${event.entity_id}`),
    el("td", {}, event.product_id || ""),
    el("td", {}, event.request_id));
  showRow(row);
  body.prepend(row);
  while (body.children.length > AUDIT_ROWS_KEPT) body.lastElementChild.remove();
}

async function followAudit() {
  streamAbort = new AbortController();
  try {
    const response = await apiFetch("/api/ops/audit/stream", { signal: streamAbort.signal });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        handleMessage(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
    setState("#stream-state", "stream ended", "down");
  } catch (err) {
    if (err.name === "AbortError") return;
    setState("#stream-state", err instanceof NeedsKey ? "key needed" : "stream down", "down");
    if (err instanceof NeedsKey) return; // resumes once a key is given
  }
  setTimeout(followAudit, STREAM_RETRY_MS);
}

function handleMessage(block) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // keep-alive
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trim());
  }
  if (type === "ready") setState("#stream-state", "audit live", "live");
  else if (type === "audit") addAuditRow(JSON.parse(data.join("\n")));
}

// ------------------------------------------------------------------ start

$("#audit-filter").addEventListener("input", () => {
  for (const row of $("#audit tbody").children) showRow(row);
});
$("#key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, $("#key-input").value.trim());
  $("#key-input").value = "";
  $("#key-form").hidden = true;
  $("#forget-key").hidden = false;
  if (streamAbort) streamAbort.abort();
  followAudit();
});
$("#forget-key").hidden = !apiKey();
$("#forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORAGE);
  location.reload();
});
setInterval(tickCountdowns, 250);
refreshSummary();
followAudit();
