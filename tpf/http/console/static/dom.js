// Building DOM without innerHTML: every string from the API becomes a text node, so a payload
// holding markup is shown, never run (the CSP forbids inline script as a second line).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function time(ms) {
  if (!ms) return "-";
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

export function ago(ms, now = Date.now()) {
  if (!ms) return "never";
  const s = Math.round((now - ms) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
}

export function pretty(value) {
  // Envelopes carry their payload as JSON text: show it parsed when it parses.
  if (value && typeof value === "object" && typeof value.payload === "string") {
    try {
      return JSON.stringify({ ...value, payload: JSON.parse(value.payload) }, null, 2);
    } catch {
      /* shown as it is */
    }
  }
  return JSON.stringify(value, null, 2);
}

export function notice(text, kind = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export function labelled(id, label, control) {
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

// Loads may overlap (a live refresh while the operator searches): only the latest may render.
// ``const isLatest = loads(); ... await ...; if (!isLatest()) return;``
export function latestOnly() {
  let last = 0;
  return () => {
    const mine = ++last;
    return () => mine === last;
  };
}
