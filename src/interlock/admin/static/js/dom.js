// Small DOM helpers: build elements from data with textContent only (no innerHTML, so nothing
// the API returns is ever parsed as markup).

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of [].concat(children || [])) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** el("td", {class: "x", text: "hi"}) or el("tr", {}, [children]) */
export function el(tag, attrs, children) {
  return apply(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, children) {
  return apply(document.createElementNS(SVG_NS, tag), attrs, children);
}

export const $ = (id) => document.getElementById(id);

/** Replace the children of `node` with `render()` only when `key` changed since the last time
 *  (keeps focus, hover and a click in progress when the data did not change). */
export function patch(node, key, render) {
  if (node.dataset.key === key) return false;
  node.dataset.key = key;
  node.replaceChildren(...[].concat(render()));
  return true;
}

export function clock(iso) {
  if (!iso) return "";
  const d = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleTimeString([], { hour12: false });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return "";
  let s = Math.floor(Number(seconds));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

export function number(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });
}

export function toast(text, kind = "info") {
  const box = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", text });
  $("toasts").append(box);
  setTimeout(() => box.remove(), kind === "error" ? 12000 : 5000);
}
