// The topology graph: the primary on top, each replica below the server it replicates from,
// an arrow per replication link labelled with its lag and the replica's GTID, nodes coloured
// by state.  A replica can be dragged onto the primary: onSwitchover(replica, primary).

import { svg, number } from "./dom.js";
import { isDown, primaryOf } from "./model.js";

const NODE_W = 214;
const NODE_H = 92;
const GAP_X = 46;
const GAP_Y = 96;
const MARGIN = 18;

/** Rows of server names: primary first, then its replicas, their replicas, ...; servers that
 *  replicate from nowhere known go into the replicas' row. */
export function layout(list) {
  const byName = new Map(list.map((s) => [s.name, s]));
  const primary = primaryOf(list);
  const placed = new Set();
  const rows = [];
  let current = primary ? [primary.name] : [];
  while (current.length) {
    rows.push(current);
    current.forEach((n) => placed.add(n));
    const next = [];
    for (const s of list) {
      if (placed.has(s.name) || next.includes(s.name)) continue;
      if (s.links.some((l) => l.from && current.includes(l.from))) next.push(s.name);
    }
    current = next;
  }
  const rest = list.filter((s) => !placed.has(s.name)).map((s) => s.name);
  if (rest.length) {
    if (rows.length >= 2) rows[1].push(...rest);
    else rows.push(rest);
  }
  return { rows, byName, primary: primary ? primary.name : null };
}

function positions(rows) {
  const widest = Math.max(1, ...rows.map((r) => r.length));
  const width = widest * NODE_W + (widest - 1) * GAP_X + 2 * MARGIN;
  const height = rows.length * NODE_H + Math.max(0, rows.length - 1) * GAP_Y + 2 * MARGIN + 14;
  const pos = new Map();
  rows.forEach((row, i) => {
    const rowWidth = row.length * NODE_W + (row.length - 1) * GAP_X;
    const x0 = (width - rowWidth) / 2;
    row.forEach((name, j) => pos.set(name, { x: x0 + j * (NODE_W + GAP_X), y: MARGIN + i * (NODE_H + GAP_Y) }));
  });
  return { pos, width: Math.max(width, 2 * NODE_W), height: Math.max(height, NODE_H + 2 * MARGIN) };
}

function shortGtid(gtid) {
  const text = String(gtid || "");
  return text.length > 26 ? `${text.slice(0, 25)}…` : text;
}

function edge(from, to, replica, link) {
  const x1 = from.x + NODE_W / 2;
  const y1 = from.y + NODE_H;
  const x2 = to.x + NODE_W / 2;
  const y2 = to.y - 4;
  const my = (y1 + y2) / 2;
  // the label sits just above the replica it belongs to (siblings' labels never overlap)
  const lx = x2;
  const ly = y2 - 30;
  const c = link.conn;
  const lag = c.seconds_behind_master;
  const health = c.health;
  const lagText = health === "broken" ? "replication stopped" : lag === null || lag === undefined ? "lag ?" : `lag ${number(lag)} s`;
  const gtid = replica.gtid || c.gtid_io_pos || "";
  return svg("g", { class: `edge ${health}`, dataset: { from: link.from, to: replica.name } }, [
    svg("path", { class: "edge-line", d: `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}`, "marker-end": `url(#arrow-${health})` }),
    svg("rect", { class: "edge-label-bg", x: lx - 80, y: ly - 17, width: 160, height: 36, rx: 6 }),
    svg("text", { class: "edge-label lag", x: lx, y: ly - 2, "text-anchor": "middle", text: lagText }),
    svg("text", { class: "edge-label gtid", x: lx, y: ly + 13, "text-anchor": "middle", text: `GTID ${shortGtid(gtid) || "–"}` }),
    svg("title", { text: `${link.from} → ${replica.name}: ${lagText}, GTID ${gtid}${c.last_io_error ? `, IO error: ${c.last_io_error}` : ""}${c.last_sql_error ? `, SQL error: ${c.last_sql_error}` : ""}` }),
  ]);
}

function node(s, p, role, draggable) {
  const lines = [
    svg("rect", { class: "node-box", width: NODE_W, height: NODE_H, rx: 10 }),
    svg("rect", { class: "node-band", width: 8, height: NODE_H, rx: 4 }),
    svg("text", { class: "node-name", x: 20, y: 24, text: s.name }),
    svg("text", { class: "node-role", x: NODE_W - 12, y: 24, "text-anchor": "end", text: role }),
    svg("text", { class: "node-state", x: 20, y: 44, text: s.state || "Down" }),
    svg("text", { class: "node-addr", x: 20, y: 62, text: `${s.address ?? ""}:${s.port ?? ""}` }),
    svg("text", { class: "node-gtid", x: 20, y: 80, text: `GTID ${shortGtid(s.gtid) || "–"} · ${number(s.connections)} conn` }),
    svg("title", { text: `${s.name} (${s.state || "Down"})\n${s.address}:${s.port}\nGTID ${s.gtid}\n${s.version}${s.details ? `\n${s.details}` : ""}` }),
  ];
  return svg("g", {
    class: `node st-${s.cls}${draggable ? " draggable" : ""}`,
    transform: `translate(${p.x},${p.y})`,
    tabindex: 0,
    role: "group",
    "aria-label": `${s.name}: ${s.state}`,
    dataset: { server: s.name, state: s.state, role, x: String(p.x), y: String(p.y) },
  }, lines);
}

function markers() {
  const defs = ["ok", "connecting", "broken"].map((h) => svg("marker", {
    id: `arrow-${h}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse", class: `arrow ${h}`,
  }, [svg("path", { d: "M0,0 L10,5 L0,10 z" })]));
  return svg("defs", {}, defs);
}

export class TopologyView {
  constructor(container, { onSwitchover }) {
    this.container = container;
    this.onSwitchover = onSwitchover;
    this.drag = null;
    this.pending = null;
    this.canDrag = true;
  }

  /** Draw `list` (postponed while a node is dragged). */
  render(list) {
    if (this.drag) {
      this.pending = list;
      return;
    }
    const key = JSON.stringify([list, this.canDrag]);
    if (key === this.key) return;
    this.key = key;
    const { rows, byName, primary } = layout(list);
    const { pos, width, height } = positions(rows);
    const edges = [];
    for (const s of list) {
      for (const l of s.links) {
        if (l.from && pos.has(l.from)) edges.push(edge(pos.get(l.from), pos.get(s.name), s, l));
      }
    }
    const nodes = list.map((s) => {
      const role = s.name === primary ? "primary" : s.links.length ? "replica" : "not replicating";
      const primaryUp = primary && !isDown(byName.get(primary));
      return node(s, pos.get(s.name), role, this.canDrag && primaryUp && s.name !== primary && s.monitor && !isDown(s));
    });
    const root = svg("svg", {
      class: "graph", viewBox: `0 0 ${width} ${height}`,
      role: "img", "aria-label": "replication topology", dataset: { primary: primary || "" },
    }, [markers(), svg("g", { class: "edges" }, edges), svg("g", { class: "nodes" }, nodes)]);
    root.style.maxWidth = `${width}px`;
    this.container.replaceChildren(list.length ? root : document.createTextNode("No servers."));
    this.svg = root;
    this.byName = byName;
    this.primary = primary;
    for (const g of root.querySelectorAll(".node.draggable")) g.addEventListener("pointerdown", (e) => this.start(e, g));
  }

  point(event) {
    const m = this.svg.getScreenCTM().inverse();
    const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(m);
    return { x: p.x, y: p.y };
  }

  target(p) {
    const g = this.svg.querySelector(`.node[data-role="primary"]`);
    if (!g) return null;
    const x = Number(g.dataset.x);
    const y = Number(g.dataset.y);
    return p.x >= x && p.x <= x + NODE_W && p.y >= y && p.y <= y + NODE_H ? g : null;
  }

  start(event, g) {
    if (event.button !== 0) return;
    event.preventDefault();
    const p = this.point(event);
    this.drag = { g, dx: p.x - Number(g.dataset.x), dy: p.y - Number(g.dataset.y), moved: false, pointer: event.pointerId };
    g.setPointerCapture(event.pointerId);
    g.classList.add("dragging");
    g.parentNode.append(g); // on top of the others
    const move = (e) => this.move(e);
    const end = (e) => {
      g.removeEventListener("pointermove", move);
      g.removeEventListener("pointerup", end);
      g.removeEventListener("pointercancel", end);
      this.end(e, e.type === "pointerup");
    };
    g.addEventListener("pointermove", move);
    g.addEventListener("pointerup", end);
    g.addEventListener("pointercancel", end);
  }

  move(event) {
    const d = this.drag;
    const p = this.point(event);
    d.moved = true;
    d.g.setAttribute("transform", `translate(${p.x - d.dx},${p.y - d.dy})`);
    const over = this.target(p);
    for (const n of this.svg.querySelectorAll(".node.drop-target")) if (n !== over) n.classList.remove("drop-target");
    if (over) over.classList.add("drop-target");
    this.hint(over ? `Release to make ${d.g.dataset.server} the primary (switchover)` : `Drop ${d.g.dataset.server} on the primary to switch over`);
  }

  hint(text) {
    let t = this.svg.querySelector("text.drop-hint");
    if (!t) {
      const box = this.svg.viewBox.baseVal;
      t = svg("text", { class: "drop-hint", x: box.width / 2, y: box.height - 4, "text-anchor": "middle" });
      this.svg.append(t);
    }
    t.textContent = text;
  }

  end(event, dropped) {
    const d = this.drag;
    const over = dropped && d.moved ? this.target(this.point(event)) : null;
    this.drag = null;
    this.key = null; // redraw: the node goes back to its place
    this.render(this.pending || [...this.byName.values()]);
    this.pending = null;
    if (over) this.onSwitchover(d.g.dataset.server, over.dataset.server);
  }
}
