// Executions: search (filters, newest first, paged by cursor) and one execution's page with
// its history as a timeline, its input and outputs, and the operator's actions.

import { admin, ApiError, cp, cpAsAdmin, hasAdmin, query } from "./api.js";
import { append, clear, duration, h, labelled, latestOnly, notice, pretty, time } from "./dom.js";
import { timeline } from "./timeline.js";

export const STATUSES = ["QUEUED", "RUNNING", "WAITING_EXTERNAL", "WAIT_RETRY", "SUCCEEDED", "FAILED", "DLQ"];
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "DLQ"]);
const FILTERS = [
  ["pipelineId", "Pipeline"],
  ["releaseVersion", "Release"],
  ["stepId", "Step"],
  ["errorCode", "Error code"],
  ["updatedAfter", "Updated after (ISO or epoch ms)"],
  ["updatedBefore", "Updated before (ISO or epoch ms)"],
];
const search = { filters: {}, cursors: [""], page: 0 };

export function executionsPage(main) {
  const inputs = {};
  for (const [key] of FILTERS) inputs[key] = h("input", { id: `search-${key}`, value: search.filters[key] || "", autocomplete: "off" });
  inputs.status = h(
    "select",
    { id: "search-status" },
    h("option", { value: "" }, "any"),
    STATUSES.map((s) => h("option", { value: s, selected: search.filters.status === s }, s)),
  );
  inputs.limit = h("input", { id: "search-limit", type: "number", min: "1", max: "500", value: search.filters.limit || "25" });
  const results = h("div", { id: "search-results", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "filters", id: "search-form", role: "search", "aria-label": "Search executions" },
    labelled("search-status", "Status", inputs.status),
    FILTERS.map(([key, label]) => labelled(`search-${key}`, label, inputs[key])),
    labelled("search-limit", "Page size", inputs.limit),
    h("button", { type: "submit", id: "search-submit" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const [key, input] of Object.entries(inputs)) search.filters[key] = input.value;
    search.cursors = [""];
    search.page = 0;
    load();
  });
  main.append(h("h1", {}, "Executions"), form, results);
  let lastShown = null;
  const loads = latestOnly();

  async function load() {
    const isLatest = loads();
    let page;
    try {
      page = await cp(`/executions${query({ limit: 25, ...search.filters, cursor: search.cursors[search.page] })}`);
    } catch (error) {
      if (isLatest()) clear(results).append(notice(error.message, "error"));
      return;
    }
    if (!isLatest()) return;
    // A live refresh that changes nothing leaves the table (and the focus in it) alone.
    const shown = JSON.stringify(page);
    if (shown === lastShown) return;
    lastShown = shown;
    clear(results);
    if (!page.items.length) {
      results.append(notice("No execution matches."));
    } else {
      results.append(
        h(
          "table",
          { class: "grid", id: "executions-table" },
          h("caption", {}, `Page ${search.page + 1}, newest first`),
          h("thead", {}, h("tr", {}, ["Execution", "Pipeline", "Status", "Step", "Error", "Updated"].map((c) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            {},
            page.items.map((e) =>
              h(
                "tr",
                { "data-execution": e.executionId },
                h("td", {}, h("a", { href: `#execution/${encodeURIComponent(e.executionId)}` }, e.executionId)),
                h("td", {}, e.pipelineId, h("br"), h("small", {}, e.releaseVersion)),
                h("td", {}, h("span", { class: `badge s-${e.status}` }, e.status)),
                h("td", {}, `${e.stepIndex} ${e.stepId || ""}`),
                h("td", {}, e.errorCode || ""),
                h("td", {}, time(e.updatedAtEpochMs)),
              ),
            ),
          ),
        ),
      );
    }
    const pager = h("div", { class: "pager" });
    if (search.page > 0) pager.append(h("button", { type: "button", id: "search-prev", onclick: () => { search.page -= 1; load(); } }, "Previous page"));
    if (page.nextCursor) {
      pager.append(h("button", { type: "button", id: "search-next", onclick: () => {
        search.cursors[search.page + 1] = page.nextCursor;
        search.page += 1;
        load();
      } }, "Next page"));
    }
    results.append(pager);
  }
  load();
  return {
    refresh: (events) => search.page === 0 && events.some((e) => e.kind !== "interaction") && load(),
  };
}

export function executionPage(main, ctx, executionId) {
  const path = `/executions/${encodeURIComponent(executionId)}`;
  const head = h("div", { id: "execution-status" });
  const actions = h("div", { class: "actions", id: "execution-actions" });
  const chart = h("div", { class: "chart" });
  const entries = h("div", { id: "history" });
  const data = h("div", { id: "execution-data" });
  main.append(
    h("h1", {}, "Execution ", h("code", {}, executionId)),
    head,
    actions,
    h("h2", {}, "Timeline"),
    chart,
    entries,
    h("h2", {}, "Input and outputs"),
    data,
  );
  let lastShown = null;
  const loads = latestOnly();

  async function load() {
    const isLatest = loads();
    let status;
    let history;
    try {
      [status, history] = await Promise.all([cp(path), cp(`${path}/history`)]);
    } catch (error) {
      if (isLatest()) clear(head).append(notice(error.message, "error"));
      return;
    }
    if (!isLatest()) return;
    const shown = JSON.stringify([status, history]);
    if (shown === lastShown) return;
    lastShown = shown;
    clear(head).append(
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Status"),
        h("dd", {}, h("span", { class: `badge s-${status.status}`, id: "execution-state" }, status.status)),
        h("dt", {}, "Pipeline / release"),
        h("dd", {}, `${status.pipelineId || "-"} / ${status.releaseVersion || "-"}`),
        h("dt", {}, "Step"),
        h("dd", {}, `${status.stepIndex} ${status.stepId || ""} (attempt ${status.attempt})`),
        h("dt", {}, "Version"),
        h("dd", {}, String(status.version)),
        h("dt", {}, "Updated"),
        h("dd", {}, time(status.updatedAtEpochMs)),
        status.errorCode ? [h("dt", {}, "Error"), h("dd", {}, `${status.errorCode}: ${status.errorMessage || ""}`)] : null,
        (status.openInteractionIds || []).length
          ? [h("dt", {}, "Open interactions"), h("dd", {}, status.openInteractionIds.join(", "))]
          : null,
        status.items ? [h("dt", {}, "Items"), h("dd", { id: "execution-items" }, itemsText(status.items))] : null,
      ),
    );
    append(clear(actions), [operatorActions(ctx, status, load)]);
    const terminal = TERMINAL.has(status.status);
    clear(chart).append(
      timeline(history.entries, Date.now(), terminal),
      h(
        "p",
        { class: "legend" },
        h("span", { class: "key k-run" }, "running"),
        h("span", { class: "key k-wait" }, "waiting on an interaction"),
        h("span", { class: "key k-retry" }, "waiting to retry"),
        h("span", {}, "● a journal entry (hover for details; the table below lists them)"),
      ),
    );
    clear(entries).append(historyTable(history));
    loadData();
  }

  async function loadData() {
    if (!hasAdmin()) {
      clear(data).append(notice("Input and outputs need the admin token."));
      return;
    }
    try {
      const full = await cpAsAdmin(`${path}?include=input,outputs`);
      clear(data).append(
        h("h3", {}, "Input"),
        h("pre", { class: "payload", id: "execution-input" }, pretty(full.input)),
        (full.outputs || []).map((o) => [
          h("h3", {}, `Output of step ${o.stepIndex} ${o.stepId || ""}`),
          h("pre", { class: "payload" }, pretty(o.payload)),
        ]),
      );
    } catch (error) {
      clear(data).append(notice(error.message, "error"));
    }
  }

  load();
  return {
    refresh: (events) => events.some((e) => e.kind === "resync" || e.executionId === executionId) && load(),
  };
}

function historyTable(history) {
  return h(
    "table",
    { class: "grid", id: "history-table" },
    h("caption", {}, history.dropped ? `History (${history.dropped} older entries dropped)` : "History"),
    h("thead", {}, h("tr", {}, ["When", "Change", "Step", "Attempt", "Took", "By", "Detail"].map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      history.entries.map((e) =>
        h(
          "tr",
          {},
          h("td", {}, time(e.atEpochMs)),
          h("td", {}, `${e.kind}: ${e.fromStatus || "-"} → ${e.toStatus}`),
          h("td", {}, `${e.stepIndex} ${e.stepId || ""}`),
          h("td", {}, String(e.attempt || 0)),
          h("td", {}, duration(e.durationMs)),
          h("td", {}, e.completedBy || e.workerId || e.coordinatorId || ""),
          h(
            "td",
            {},
            [e.errorCode, e.errorMessage, e.reason, e.interactionId && `interaction ${e.interactionId}`, e.idempotencyKey && `key ${e.idempotencyKey}`]
              .filter(Boolean)
              .join("; "),
          ),
        ),
      ),
    ),
  );
}

// Re-drive, re-open the last await, cancel: each asks for a reason first.
export function operatorActions(ctx, execution, done) {
  const id = execution.executionId;
  const status = execution.status;
  const buttons = [];
  const act = (label, what, run) => {
    const button = h("button", { type: "button", "data-action": label.toLowerCase().replace(/\s+/g, "-"), "data-execution": id }, label);
    button.addEventListener("click", async () => {
      const reason = await ctx.askReason(`${label} ${id}: ${what}`);
      if (reason === null) return button.focus();
      try {
        await run(reason);
        ctx.announce(`${label}: ${id} done`);
      } catch (error) {
        ctx.announce(error instanceof ApiError ? `${label} failed: ${error.message}` : String(error), true);
      }
      await done();
    });
    buttons.push(button);
  };
  const base = `/executions/${encodeURIComponent(id)}`;
  if (status === "DLQ" || status === "FAILED") {
    act("Re-drive", "run it again from its current step", (reason) =>
      admin(`${base}/redrive`, { method: "POST", body: { reason, allowFailed: status === "FAILED", expectedVersion: execution.version } }),
    );
  }
  if (status === "FAILED") {
    act("Re-open await", "park it again on its last await", (reason) =>
      admin(`${base}/redrive`, { method: "POST", body: { reason, reopenAwait: true, expectedVersion: execution.version } }),
    );
  }
  if (!TERMINAL.has(status)) {
    act("Cancel", "end it as FAILED with errorCode CANCELLED", (reason) =>
      admin(`${base}/cancel`, { method: "POST", body: { reason, expectedVersion: execution.version } }),
    );
  }
  if (!hasAdmin()) return notice("Re-drive and cancel need the admin token.");
  return buttons;
}

// An expanded execution's items in one line: how many are done, waiting and open, and the
// answers by variant (the status route's ``items``).
function itemsText(items) {
  const variants = Object.entries(items.byVariant || {})
    .map(([name, count]) => `${name} ${count}`)
    .join(", ");
  const failed = items.failed ? `, ${items.failed} failed` : "";
  return (
    `${items.completed} of ${items.total} completed${failed}, ${items.pending} pending ` +
    `(${items.inFlight} open)` + (variants ? `; ${variants}` : "")
  );
}
