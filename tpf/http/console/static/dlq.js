// The DLQ view: DLQ and FAILED executions grouped by failure fingerprint (error code + step),
// each with re-drive, re-open-await and cancel (which ask for a reason).

import { cp, query } from "./api.js";
import { clear, h, latestOnly, notice, time } from "./dom.js";
import { operatorActions } from "./executions.js";

export function dlqPage(main, ctx) {
  const groups = h("div", { id: "dlq-groups", "aria-live": "polite" });
  main.append(h("h1", {}, "Dead letters"), h("p", {}, "DLQ and FAILED executions, grouped by error code and step."), groups);

  let lastShown = null;
  const loads = latestOnly();
  async function load() {
    const isLatest = loads();
    let items = [];
    try {
      for (const status of ["DLQ", "FAILED"]) {
        let cursor = "";
        // Up to 5 pages of 200 per status: enough to see the fingerprints that matter.
        for (let page = 0; page < 5; page += 1) {
          const result = await cp(`/executions${query({ status, limit: 200, cursor })}`);
          items = items.concat(result.items);
          if (!result.nextCursor) break;
          cursor = result.nextCursor;
        }
      }
    } catch (error) {
      if (isLatest()) clear(groups).append(notice(error.message, "error"));
      return;
    }
    if (!isLatest()) return;
    const shown = JSON.stringify(items);
    if (shown === lastShown) return;
    lastShown = shown;
    const byPrint = new Map();
    for (const e of items) {
      const print = `${e.errorCode || "(no code)"} @ ${e.stepId || `step ${e.stepIndex}`}`;
      if (!byPrint.has(print)) byPrint.set(print, []);
      byPrint.get(print).push(e);
    }
    clear(groups);
    if (!byPrint.size) groups.append(notice("No failed executions."));
    const sorted = [...byPrint.entries()].sort((a, b) => b[1].length - a[1].length);
    sorted.forEach(([print, list], i) => {
      groups.append(
        h(
          "section",
          { class: "card fingerprint", "aria-labelledby": `fp-${i}`, "data-fingerprint": print },
          h("h2", { id: `fp-${i}` }, print, " ", h("span", { class: "count" }, `(${list.length})`)),
          h(
            "ul",
            { class: "dlq-list" },
            list.map((e) =>
              h(
                "li",
                { "data-execution": e.executionId },
                h("a", { href: `#execution/${encodeURIComponent(e.executionId)}` }, e.executionId),
                " ",
                h("span", { class: `badge s-${e.status}` }, e.status),
                " ",
                h("small", {}, `${e.errorMessage || ""} · ${time(e.updatedAtEpochMs)}`),
                h("div", { class: "actions" }, operatorActions(ctx, e, load)),
              ),
            ),
          ),
        ),
      );
    });
  }
  load();
  return { refresh: (events) => events.some((e) => e.kind !== "interaction") && load() };
}
