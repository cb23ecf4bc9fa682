// The dashboard: sign in, then poll the REST API every second and redraw what changed.

import { $, el, patch, clock, duration, toast } from "./dom.js";
import { Api, ApiError } from "./api.js";
import * as model from "./model.js";
import { History } from "./charts.js";
import { TopologyView } from "./topology.js";
import { confirmAction } from "./actions.js";
import * as panels from "./panels.js";

const POLL_MS = 1000;
const RESOURCES = {
  servers: "/v1/servers",
  monitors: "/v1/monitors",
  sessions: "/v1/sessions",
};
const EVENTS_KEPT = 200;
const EVENTS_RESYNC = 60; // polls between two full reads of /v1/events
const SLOW = { maxscale: "/v1/maxscale" }; // every SLOW_EVERY polls
const SLOW_EVERY = 10;

const api = new Api();
const history = new History();
const cards = new Map();
let polls = 0;
let timer = null;
let running = false;
let lastOk = null;
let proxyInfo = null;
let state = { servers: [], primary: null };
let eventLog = { docs: [], last: 0 }; // events kept by the page; ?since=last fetches newer ones

const topology = new TopologyView($("topology"), {
  onSwitchover: (server, primary) => act("switchover", { server, primary, monitor: serverByName(server)?.monitor }),
});

function serverByName(name) {
  return state.servers.find((s) => s.name === name);
}

function show(view) {
  $("login-view").hidden = view !== "login";
  $("app-view").hidden = view !== "app";
  $("who").hidden = view !== "app";
  $("live").hidden = view !== "app";
  document.body.dataset.view = view;
}

// -- signing in -----------------------------------------------------------------------------

async function start() {
  try {
    if (await api.resume()) return enter();
  } catch (exc) {
    $("login-error").textContent = exc.message;
    $("login-error").hidden = false;
  }
  toLogin();
}

function toLogin(message) {
  stop();
  show("login");
  if (message) {
    $("login-error").textContent = message;
    $("login-error").hidden = false;
  }
  const user = $("login-user");
  (user.value ? $("login-password") : user).focus();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const submit = $("login-submit");
  submit.disabled = true;
  $("login-error").hidden = true;
  try {
    await api.login($("login-user").value, $("login-password").value, $("login-persist").checked);
    $("login-password").value = "";
    enter();
  } catch (exc) {
    $("login-error").textContent = exc.status === 401 ? "Wrong user or password." : exc.message;
    $("login-error").hidden = false;
  } finally {
    submit.disabled = false;
  }
});

$("logout").addEventListener("click", async () => {
  await api.logout();
  toLogin("Signed out.");
});

function enter() {
  $("login-error").hidden = true;
  polls = 0; // the first poll reads every event again
  eventLog = { docs: [], last: 0 };
  $("who-name").textContent = api.user || "";
  $("who-account").textContent = api.canWrite ? "admin" : "read-only";
  $("topology-hint").hidden = !api.canWrite;
  topology.canDrag = api.canWrite;
  show("app");
  running = true;
  poll();
}

function stop() {
  running = false;
  if (timer) clearTimeout(timer);
  timer = null;
}

// -- polling --------------------------------------------------------------------------------

async function fetchAll(paths) {
  const names = Object.keys(paths);
  const settled = await Promise.allSettled(names.map((n) => api.get(paths[n])));
  return Object.fromEntries(names.map((n, i) => [n, settled[i]]));
}

async function poll() {
  if (!running) return;
  if (timer) clearTimeout(timer);
  timer = null;
  const began = Date.now();
  const wanted = polls % SLOW_EVERY === 0 ? { ...RESOURCES, ...SLOW } : RESOURCES;
  const full = polls % EVENTS_RESYNC === 0;
  polls += 1;
  const got = await fetchAll({ ...wanted, events: `/v1/events${full ? "" : `?since=${eventLog.last}`}` });
  if (!running) return;
  const denied = Object.values(got).find((r) => r.status === "rejected" && r.reason.status === 401);
  if (denied) {
    api.forget();
    toLogin("Your session ended (token expired or the proxy restarted); sign in again.");
    return;
  }
  try {
    draw(got, began, full);
  } catch (exc) {
    console.error(exc);
    live(false, `drawing failed: ${exc.message}`);
  }
  timer = setTimeout(poll, Math.max(50, POLL_MS - (Date.now() - began)));
}

/** Poll again now (after an action) instead of waiting for the next second. */
function refresh() {
  if (running) poll();
}

function live(ok, text) {
  $("live").classList.toggle("down", !ok);
  $("live-text").textContent = text;
}

function data(result) {
  return result && result.status === "fulfilled" ? result.value?.data : undefined;
}

function draw(got, now, full) {
  const servers = got.servers;
  if (servers.status === "rejected") {
    live(false, `no answer${lastOk ? ` since ${clock(lastOk / 1000)}` : ""}: ${servers.reason.message}`);
    return;
  }
  lastOk = now;
  live(true, `live · ${clock(now / 1000)}`);
  const monitorDocs = data(got.monitors) || [];
  const list = model.servers(data(servers), monitorDocs);
  const primary = model.primaryOf(list);
  state = { servers: list, primary };
  history.add(now, list);
  topology.render(list);
  drawServers(list, primary, now);
  drawWarnings(got.monitors, list);
  drawMonitors(monitorDocs);
  drawSessions(got.sessions);
  drawEvents(got.events, full);
  if (got.maxscale) drawProxy(got.maxscale, now);
  document.body.dataset.polls = String(polls);
}

function drawServers(list, primary, now) {
  const container = $("servers");
  const ordered = list.map((s) => {
    let card = cards.get(s.name);
    if (!card) {
      card = el("article", { class: "server-card" }, [
        el("div", { class: "info" }), el("div", { class: "charts" }), el("div", { class: "actions" }),
      ]);
      cards.set(s.name, card);
    }
    const [info, charts, actions] = card.children;
    card.className = `server-card st-${s.cls}`;
    card.dataset.server = s.name;
    card.dataset.state = s.state;
    patch(info, JSON.stringify([s, primary && primary.name]), () => panels.serverInfo(s, primary));
    charts.replaceChildren(...panels.serverCharts(history.points(s.name), now));
    const offered = panels.serverActions(s, primary, api.canWrite);
    patch(actions, JSON.stringify(offered.map((b) => [b.textContent, { ...b.dataset }])), () => offered);
    return card;
  });
  for (const name of cards.keys()) if (!list.some((s) => s.name === name)) cards.delete(name);
  const same = ordered.length === container.children.length && ordered.every((c, i) => container.children[i] === c);
  if (!same) container.replaceChildren(...ordered);
}

function drawMonitors(docs) {
  const rows = docs.map((m) => {
    const d = m.attributes?.monitor_diagnostics || {};
    return { name: m.id, verdict: d.verdict || m.attributes?.state || "", reason: d.verdict_reason || d.primary_reason || "", busy: Boolean(d.operation_running), op: model.operation(m.attributes?.operation) };
  });
  patch($("monitor-status"), JSON.stringify(rows), () => rows.map((r) => el("div", { class: `monitor verdict-${r.verdict}`, dataset: { monitor: r.name } }, [
    el("strong", { text: r.name }),
    el("span", { class: "verdict", text: r.verdict }),
    el("span", { class: "muted", text: r.reason }),
    r.busy && !r.op ? el("span", { class: "busy", text: "operation running…" }) : null,
    r.op ? el("span", { class: r.op.manual ? "operation manual" : "operation busy", text: r.op.text }) : null,
  ])));
}

function drawWarnings(monitors, list) {
  const rows = model.warnings(data(monitors), list);
  const missing = monitors.status === "rejected" ? [panels.unavailable("/v1/monitors", monitors.reason)] : [];
  $("warnings-count").textContent = rows.length ? String(rows.length) : "";
  patch($("warnings"), JSON.stringify([rows, missing.map((m) => m.textContent)]), () => [
    ...missing.map((m) => el("li", {}, m)), ...panels.warningItems(rows),
  ]);
  $("warnings").closest("section").classList.toggle("has-warnings", rows.length > 0);
}

function drawSessions(result) {
  if (result.status === "rejected") {
    patch($("sessions"), `error:${result.reason.message}`, () => panels.unavailable("/v1/sessions", result.reason));
    $("sessions-count").textContent = "";
    return;
  }
  const rows = model.sessions(result.value.data);
  $("sessions-count").textContent = String(rows.length);
  patch($("sessions"), JSON.stringify([rows, api.canWrite]), () => panels.sessionsTable(rows, api.canWrite));
}

function mergeEvents(docs, full) {
  const fresh = docs || [];
  const known = full ? [] : eventLog.docs;
  const last = known.length ? Number(known[known.length - 1].id) : 0;
  const merged = known.concat(fresh.filter((e) => Number(e.id) > last)).slice(-EVENTS_KEPT);
  const top = merged.length ? Number(merged[merged.length - 1].id) : 0;
  eventLog = { docs: merged, last: full ? top : Math.max(eventLog.last, top) };
}

function drawEvents(result, full) {
  if (result.status === "rejected") {
    patch($("events"), `error:${result.reason.message}`, () => el("li", {}, panels.unavailable("/v1/events", result.reason)));
    $("events-count").textContent = "";
    return;
  }
  mergeEvents(result.value.data, full);
  const rows = model.events(eventLog.docs).filter((e) => !hiddenKinds.has(e.kind));
  $("events-count").textContent = String(eventLog.docs.length);
  patch($("events"), JSON.stringify(rows), () => panels.eventItems(rows));
}

function drawProxy(result, now) {
  if (result.status === "fulfilled") {
    const a = result.value.data?.attributes || {};
    proxyInfo = { version: a.version, uptime: a.uptime, at: now };
  }
  const parts = [location.host];
  if (proxyInfo?.version) parts.push(`v${proxyInfo.version}`);
  if (proxyInfo?.uptime !== undefined) parts.push(`up ${duration(proxyInfo.uptime + (now - proxyInfo.at) / 1000)}`);
  $("proxy-meta").textContent = parts.join(" · ");
}

// -- event filters (kept in localStorage) ----------------------------------------------------

const HIDDEN_KEY = "interlock.events.hidden";
const hiddenKinds = new Set(JSON.parse(localStorage.getItem(HIDDEN_KEY) || "[]"));

function drawFilters() {
  for (const chip of document.querySelectorAll("#event-filters .chip")) {
    chip.setAttribute("aria-pressed", String(!hiddenKinds.has(chip.dataset.kind)));
  }
}

$("event-filters").addEventListener("click", (event) => {
  const chip = event.target.closest(".chip");
  if (!chip) return;
  const kind = chip.dataset.kind;
  if (hiddenKinds.has(kind)) hiddenKinds.delete(kind);
  else hiddenKinds.add(kind);
  localStorage.setItem(HIDDEN_KEY, JSON.stringify([...hiddenKinds]));
  drawFilters();
  refresh();
});
drawFilters();

// -- actions --------------------------------------------------------------------------------

function act(name, params) {
  if (!api.canWrite) {
    toast("This account is read-only.", "error");
    return;
  }
  const primary = state.primary ? state.primary.name : "";
  confirmAction(api, name, { primary, ...params }, refresh);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.action");
  if (!button) return;
  act(button.dataset.action, { ...button.dataset });
});

window.addEventListener("unhandledrejection", (event) => {
  if (event.reason instanceof ApiError) toast(event.reason.message, "error");
});

start();
