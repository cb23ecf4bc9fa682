// Per-server history (query rate from the routed_queries counter's deltas, connection count)
// over the last five minutes, and a small SVG line chart of one series.

import { svg, number } from "./dom.js";

export const WINDOW_S = 300;
const W = 300;
const H = 64;
const PAD_TOP = 6;

export class History {
  constructor() {
    this.series = new Map(); // server -> {points: [{t, qps, conns}], last: {t, routed}}
  }

  /** Add one poll's numbers (t: ms since epoch). */
  add(t, servers) {
    const names = new Set(servers.map((s) => s.name));
    for (const name of this.series.keys()) if (!names.has(name)) this.series.delete(name);
    for (const s of servers) {
      let h = this.series.get(s.name);
      if (!h) {
        h = { points: [], last: null };
        this.series.set(s.name, h);
      }
      let qps = null;
      if (s.routed !== null && s.routed !== undefined && h.last && h.last.routed !== null) {
        const dt = (t - h.last.t) / 1000;
        const dq = s.routed - h.last.routed;
        if (dt > 0.05 && dq >= 0) qps = dq / dt; // a smaller counter: the proxy restarted
      }
      h.last = { t, routed: s.routed ?? null };
      h.points.push({ t, qps, conns: s.connections });
      while (h.points.length && h.points[0].t < t - WINDOW_S * 1000) h.points.shift();
    }
  }

  points(name) {
    const h = this.series.get(name);
    return h ? h.points : [];
  }
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * exp) return step * exp;
  return 10 * exp;
}

/** An SVG chart of `key` ("qps" or "conns") of `points` ending at `now` (ms). */
export function chart(points, key, now, { label, unit = "", cls = "" } = {}) {
  const values = points.filter((p) => p[key] !== null && p[key] !== undefined);
  const peak = values.reduce((m, p) => Math.max(m, p[key]), 0);
  const top = niceMax(peak);
  const x = (t) => ((t - (now - WINDOW_S * 1000)) / (WINDOW_S * 1000)) * W;
  const y = (v) => H - (v / top) * (H - PAD_TOP);
  const current = values.length ? values[values.length - 1][key] : null;
  // one polyline per run of known values (a gap where the counter was unknown)
  const runs = [];
  let run = [];
  for (const p of points) {
    if (p[key] === null || p[key] === undefined) {
      if (run.length) runs.push(run);
      run = [];
    } else run.push(`${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`);
  }
  if (run.length) runs.push(run);
  const grid = [0.5, 1].map((f) => svg("line", { class: "grid", x1: 0, x2: W, y1: y(top * f), y2: y(top * f) }));
  const lines = runs.map((r) => {
    const first = r[0].split(",")[0];
    const last = r[r.length - 1].split(",")[0];
    return [
      svg("path", { class: "area", d: `M${first},${H} L${r.join(" L")} L${last},${H} Z` }),
      svg("polyline", { class: "line", points: r.join(" ") }),
    ];
  }).flat();
  return svg("svg", {
    class: `chart ${cls}`, viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img",
    "aria-label": `${label}: ${number(current, 1)}${unit}`,
    dataset: { key, points: String(values.length), peak: String(peak), current: current === null ? "" : String(current) },
  }, [svg("title", { text: `${label}, last 5 minutes (peak ${number(peak, 1)}${unit})` }), ...grid, ...lines]);
}

/** The chart with its caption: label, current value, the scale's top. */
export function chartBlock(el, points, key, now, opts) {
  const values = points.filter((p) => p[key] !== null && p[key] !== undefined);
  const current = values.length ? values[values.length - 1][key] : null;
  const peak = values.reduce((m, p) => Math.max(m, p[key]), 0);
  return el("figure", { class: `chart-block ${opts.cls || ""}` }, [
    el("figcaption", {}, [
      el("span", { class: "chart-label", text: opts.label }),
      el("span", { class: "chart-value", text: current === null ? "–" : `${number(current, key === "qps" ? 1 : 0)}${opts.unit || ""}` }),
    ]),
    el("div", { class: "chart-frame" }, [
      el("span", { class: "chart-top", text: number(niceMax(peak), 1) }),
      chart(points, key, now, opts),
    ]),
    el("div", { class: "chart-axis" }, [el("span", { text: "−5 min" }), el("span", { text: "now" })]),
  ]);
}
