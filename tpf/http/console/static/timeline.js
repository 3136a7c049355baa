// An execution's history as a small inline SVG: one row per step, a bar for each span the
// execution spent there (running, waiting on an interaction, waiting to retry), a dot per
// journal entry. The entries table beside it says the same in text (the accessible version).

import { svg } from "./dom.js";

const WIDTH = 720;
const ROW = 26;
const LEFT = 190;
const KIND = {
  WAITING_EXTERNAL: "wait",
  WAIT_RETRY: "retry",
  QUEUED: "run",
  RUNNING: "run",
  SUCCEEDED: "ok",
  FAILED: "bad",
  DLQ: "bad",
};

export function timeline(entries, now = Date.now(), terminal = false) {
  if (!entries.length) return svg("svg", { class: "timeline", width: 10, height: 10, role: "img", "aria-label": "no history" });
  const steps = [];
  for (const e of entries) {
    const key = e.stepIndex;
    if (!steps.some((s) => s.index === key)) steps.push({ index: key, id: e.stepId || `step ${key}` });
  }
  steps.sort((a, b) => a.index - b.index);
  const start = Math.min(...entries.map((e) => e.atEpochMs - (e.durationMs || 0)));
  const last = entries[entries.length - 1];
  const end = Math.max(terminal ? last.atEpochMs : now, last.atEpochMs, start + 1);
  const x = (ms) => LEFT + ((ms - start) / (end - start)) * (WIDTH - LEFT - 10);
  const y = (index) => 20 + steps.findIndex((s) => s.index === index) * ROW;
  const height = 30 + steps.length * ROW;
  const parts = [];
  steps.forEach((s) => {
    parts.push(svg("text", { x: 4, y: y(s.index) + 13, class: "tl-label" }, truncate(s.id, 26)));
    parts.push(svg("line", { x1: LEFT, x2: WIDTH - 10, y1: y(s.index) + 9, y2: y(s.index) + 9, class: "tl-axis" }));
  });
  entries.forEach((e, i) => {
    const next = entries[i + 1];
    const kind = KIND[e.toStatus] || "run";
    if (e.durationMs) {
      // The transition that this entry ends ran for durationMs before it.
      parts.push(bar(x(e.atEpochMs - e.durationMs), x(e.atEpochMs), y(e.stepIndex), "run", `${e.stepId || ""} ran ${e.durationMs} ms`));
    }
    const until = next ? next.atEpochMs : terminal ? e.atEpochMs : now;
    if (until > e.atEpochMs && kind !== "ok" && kind !== "bad") {
      parts.push(bar(x(e.atEpochMs), x(until), y(e.stepIndex), kind, `${e.toStatus} at ${e.stepId || e.stepIndex}`));
    }
    parts.push(
      svg(
        "circle",
        { cx: x(e.atEpochMs), cy: y(e.stepIndex) + 9, r: 5, class: `tl-dot tl-${kind}`, "data-kind": e.kind },
        svg("title", {}, `${e.kind}: ${e.fromStatus || "-"} → ${e.toStatus}`),
      ),
    );
  });
  parts.push(svg("text", { x: LEFT, y: height - 4, class: "tl-tick" }, new Date(start).toISOString().slice(11, 19)));
  parts.push(svg("text", { x: WIDTH - 70, y: height - 4, class: "tl-tick" }, new Date(end).toISOString().slice(11, 19)));
  return svg(
    "svg",
    {
      class: "timeline",
      id: "timeline",
      viewBox: `0 0 ${WIDTH} ${height}`,
      width: WIDTH,
      height,
      role: "img",
      "aria-label": `Timeline of ${entries.length} history entries over ${steps.length} steps`,
    },
    parts,
  );
}

function bar(x1, x2, y, kind, title) {
  return svg(
    "rect",
    { x: x1, y: y + 3, width: Math.max(2, x2 - x1), height: 12, rx: 2, class: `tl-bar tl-${kind}` },
    svg("title", {}, title),
  );
}

function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
