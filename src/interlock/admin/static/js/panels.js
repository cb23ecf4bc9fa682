// The HTML panels: a card per server (state, replication, charts, action buttons), the
// sessions table, the events list and the warnings.

import { el, clock, duration, number } from "./dom.js";
import { chartBlock } from "./charts.js";
import { isDown, replicating } from "./model.js";

function button(label, action, params, { cls = "", title } = {}) {
  return el("button", { type: "button", class: `action ${cls}`, title, dataset: { action, ...params }, text: label });
}

/** Which actions a server offers (params go into data-* of each button). */
export function serverActions(s, primary, canWrite) {
  if (!canWrite || !s.monitor) return [];
  const base = { server: s.name, monitor: s.monitor, primary: primary ? primary.name : "" };
  const out = [];
  const isPrimary = primary && s.name === primary.name;
  const down = isDown(s);
  const primaryDown = primary && isDown(primary);
  if (isPrimary && down) out.push(button("Fail over", "failover", base, { cls: "strong danger-strong", title: "promote the best replica" }));
  if (!isPrimary && !down && !primaryDown) out.push(button("Make primary", "switchover", base, { cls: "strong", title: `switchover to ${s.name}` }));
  if (!isPrimary && !down && primary && !primaryDown && !replicating(s)) out.push(button("Rejoin", "rejoin", base, { title: `replicate from ${primary.name}` }));
  out.push(s.words.includes("Maintenance")
    ? button("Clear maintenance", "clear-maintenance", base)
    : button("Maintenance", "set-maintenance", base));
  out.push(s.words.includes("Draining")
    ? button("Stop draining", "clear-drain", base)
    : button("Drain", "set-drain", base));
  return out;
}

function replicationLine(s, primary) {
  if (primary && s.name === primary.name) return "primary" + (s.readOnly ? " (read_only!)" : "");
  if (!s.links.length) return "not replicating";
  return s.links.map((l) => {
    const c = l.conn;
    const from = l.from || `${c.master_host}:${c.master_port}`;
    if (c.health === "broken") return `from ${from}: stopped`;
    const lag = c.seconds_behind_master;
    return `from ${from}, lag ${lag === null || lag === undefined ? "?" : `${lag} s`}`;
  }).join("; ");
}

/** The card's text part: name, state, replication, GTID, address, connections. */
export function serverInfo(s, primary) {
  const facts = [
    ["Replication", replicationLine(s, primary)],
    ["GTID", s.gtid || "–"],
    ["Address", `${s.address}:${s.port}`],
    ["Connections", number(s.connections)],
    ["Version", s.version || "–"],
  ];
  return [
    el("header", {}, [
      el("span", { class: "state-dot" }),
      el("h3", { text: s.name }),
      el("span", { class: "state-badge", text: s.state || "Down" }),
    ]),
    el("dl", { class: "facts" }, facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v, title: v })])),
  ];
}

export function serverCharts(points, now) {
  return [
    chartBlock(el, points, "qps", now, { label: "queries/s", unit: "/s", cls: "qps" }),
    chartBlock(el, points, "conns", now, { label: "connections", cls: "conns" }),
  ];
}

export function sessionsTable(rows, canWrite) {
  if (!rows.length) return el("p", { class: "empty", text: "No client sessions." });
  const head = ["ID", "User", "Client", "Service", "Servers", "Connected", "Idle", "State", ""];
  return el("table", { class: "grid-table" }, [
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { text: h })))),
    el("tbody", {}, rows.map((r) => el("tr", { dataset: { session: r.id } }, [
      el("td", { class: "num", text: r.id }),
      el("td", { text: r.user }),
      el("td", { text: r.remote }),
      el("td", { class: "wrap", text: r.service }),
      el("td", { class: "wrap", text: r.servers.join(", ") }),
      el("td", { text: clock(r.connected) }),
      el("td", { class: "num", text: r.idle === undefined || r.idle === null ? "" : duration(r.idle) }),
      el("td", { text: r.state }),
      el("td", {}, canWrite ? button("Kill", "kill-session", { session: r.id, user: r.user, remote: r.remote }, { cls: "small danger" }) : null),
    ]))),
  ]);
}

export function eventItems(rows) {
  if (!rows.length) return [el("li", { class: "empty", text: "No events yet." })];
  return rows.map((e) => {
    const change = e.kind === "state" && (e.oldState || e.newState) ? `${e.oldState || "–"} → ${e.newState || "–"}` : "";
    return el("li", { class: `event kind-${e.kind}`, dataset: { id: e.id, kind: e.kind } }, [
      el("time", { text: clock(e.time), datetime: e.time }),
      el("span", { class: "kind", text: e.kind }),
      el("span", { class: "who", text: e.server || e.monitor || "cluster" }),
      el("span", { class: "what" }, [change ? el("span", { class: "change", text: change }) : null, e.reason ? el("span", { class: "reason", text: e.reason }) : null]),
    ]);
  });
}

export function warningItems(rows) {
  if (!rows.length) return [el("li", { class: "empty", text: "No warnings." })];
  return rows.map((w) => el("li", { class: "warning" }, [el("strong", { text: w.source }), el("span", { text: w.text })]));
}

export function unavailable(what, exc) {
  const text = exc.status === 404 ? `This proxy's API has no ${what} (404).` : `${what}: ${exc.message}`;
  return el("p", { class: "unavailable", text });
}
