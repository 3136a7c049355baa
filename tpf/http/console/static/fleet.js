// Releases (the active release per pipeline, activation history) and workers (state, last
// heartbeat), per pipeline of the tenant.

import { admin, ApiError, hasAdmin } from "./api.js";
import { ago, clear, h, labelled, latestOnly, notice, time } from "./dom.js";

const enc = encodeURIComponent;
const known = new Set();

// The tenant's pipelines: the admin list when the coordinator has it, plus any typed in.
async function pipelines() {
  try {
    const list = await admin("/pipelines");
    for (const p of list) known.add(p.pipelineId);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
  }
  return [...known].sort();
}

function pipelinePicker(onAdd) {
  const input = h("input", { id: "pipeline-add", autocomplete: "off" });
  const form = h("form", { class: "filters", "aria-label": "Add a pipeline" }, labelled("pipeline-add", "Pipeline id", input), h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) known.add(input.value.trim());
    onAdd();
  });
  return form;
}

function guard(main, title) {
  main.append(h("h1", {}, title));
  if (!hasAdmin()) {
    main.append(notice("This page needs the admin token: log out and log in with it."));
    return false;
  }
  return true;
}

// A page of one card per pipeline, each from the admin route ``/pipelines/{id}/<resource>``,
// re-read on a resync event; it renders only the newest answer, and only when it changed (a
// live refresh keeps focus).
function perPipelinePage(main, title, resource, card) {
  if (!guard(main, title)) return {};
  const body = h("div", { id: resource, "aria-live": "polite" });
  main.append(pipelinePicker(() => load()), body);
  let lastShown = null;
  const loads = latestOnly();
  async function load() {
    const isLatest = loads();
    let all;
    try {
      const ids = await pipelines();
      all = await Promise.all(ids.map(async (id) => [id, await admin(`/pipelines/${enc(id)}/${resource}`)]));
    } catch (error) {
      if (isLatest()) clear(body).append(notice(error.message, "error"));
      return;
    }
    const shown = JSON.stringify(all);
    if (!isLatest() || shown === lastShown) return;
    lastShown = shown;
    clear(body);
    if (!all.length) body.append(notice("No pipeline known yet: type its id above."));
    for (const [id, items] of all) body.append(card(id, items, load));
  }
  load();
  return { refresh: (events) => events.some((e) => e.kind === "resync") && load() };
}

export function releasesPage(main, ctx) {
  return perPipelinePage(main, "Releases", "releases", (id, releases, reload) => releaseCard(id, releases, ctx, reload));
}

function releaseCard(pipelineId, releases, ctx, reload) {
  const base = `/pipelines/${enc(pipelineId)}/releases`;
  const active = releases.find((r) => r.status === "ACTIVE");
  const history = releases.filter((r) => r.activatedAtEpochMs).sort((a, b) => b.activatedAtEpochMs - a.activatedAtEpochMs);
  return h(
    "section",
    { class: "card", "data-pipeline": pipelineId },
    h("h2", {}, pipelineId),
    h("p", {}, "Active: ", h("strong", { class: "active-release" }, active ? active.releaseVersion : "none")),
    h(
      "table",
      { class: "grid" },
      h("caption", {}, "Releases"),
      h("thead", {}, h("tr", {}, ["Release", "Contract", "Status", "Registered", "Activated", ""].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        releases.map((r) =>
          h(
            "tr",
            {},
            h("td", {}, h("code", {}, r.releaseVersion)),
            h("td", {}, r.contractVersion),
            h("td", {}, r.status),
            h("td", {}, time(r.createdAtEpochMs)),
            h("td", {}, time(r.activatedAtEpochMs)),
            h(
              "td",
              {},
              r.status === "ACTIVE"
                ? ""
                : h("button", { type: "button", class: "small", onclick: async () => {
                    const reason = await ctx.askReason(`Activate ${r.releaseVersion} of ${pipelineId} for new executions`);
                    if (reason === null) return;
                    try {
                      await admin(`${base}/${enc(r.releaseVersion)}/activate`, { method: "POST" });
                      ctx.announce(`Activated ${r.releaseVersion}`);
                    } catch (error) {
                      ctx.announce(error.message, true);
                    }
                    reload();
                  } }, "Activate"),
            ),
          ),
        ),
      ),
    ),
    h("h3", {}, "Activation history"),
    h("ol", { class: "activations" }, history.map((r) => h("li", {}, `${time(r.activatedAtEpochMs)} ${r.releaseVersion}`))),
  );
}

export function workersPage(main) {
  return perPipelinePage(main, "Workers", "workers", workersCard);
}

function workersCard(id, workers) {
  const now = Date.now();
  return h(
    "section",
    { class: "card", "data-pipeline": id },
    h("h2", {}, id),
    workers.length
      ? h(
          "table",
          { class: "grid workers" },
          h("caption", {}, "Workers"),
          h("thead", {}, h("tr", {}, ["Worker", "State", "Protocol", "Release", "Last heartbeat"].map((c) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            {},
            workers.map((w) =>
              h(
                "tr",
                { "data-worker": w.workerId },
                h("td", {}, w.workerId),
                h("td", {}, h("span", { class: `badge w-${w.state}` }, w.state)),
                h("td", {}, `${w.protocol} ${w.endpoint || ""}`),
                h("td", {}, h("code", {}, w.releaseVersion)),
                h("td", {}, `${time(w.lastHeartbeatAtEpochMs)} (${ago(w.lastHeartbeatAtEpochMs, now)})`),
              ),
            ),
          ),
        )
      : notice("No worker registered."),
  );
}
