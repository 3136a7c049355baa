// The inbox: pending interactions (filtered by group, assignee, step; paged by cursor), each
// with its request payload and a form generated from the await's response schema.

import { ApiError, cp, cpWithHeaders, query } from "./api.js";
import { clear, h, labelled, latestOnly, notice, pretty, time } from "./dom.js";
import { schemaForm } from "./schema_form.js";

const state = { filters: { group: "", assignee: "", stepId: "" }, cursors: [""], page: 0 };

export function inboxPage(main, ctx) {
  const list = h("div", { id: "inbox-list", "aria-live": "polite" });
  const inputs = {
    group: h("input", { id: "filter-group", value: state.filters.group }),
    assignee: h("input", { id: "filter-assignee", value: state.filters.assignee }),
    stepId: h("input", { id: "filter-step", value: state.filters.stepId }),
  };
  const form = h(
    "form",
    { class: "filters", id: "inbox-filters", "aria-label": "Filter the inbox" },
    labelled("filter-group", "Group", inputs.group),
    labelled("filter-assignee", "Assignee", inputs.assignee),
    labelled("filter-step", "Step", inputs.stepId),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const [key, input] of Object.entries(inputs)) state.filters[key] = input.value;
    state.cursors = [""];
    state.page = 0;
    load();
  });
  main.append(h("h1", {}, "Inbox"), form, list);

  const loads = latestOnly();
  async function load() {
    const isLatest = loads();
    let result;
    try {
      result = await cpWithHeaders(
        `/interactions/pending${query({ ...state.filters, cursor: state.cursors[state.page], limit: 20 })}`,
      );
    } catch (error) {
      if (isLatest()) clear(list).append(notice(error.message, "error"));
      return;
    }
    if (!isLatest()) return;
    const items = result.data || [];
    const next = result.headers.get("X-Next-Cursor");
    reconcile(items);
    const pager = h("div", { class: "pager" });
    if (state.page > 0) {
      pager.append(h("button", { type: "button", id: "inbox-prev", onclick: () => { state.page -= 1; load(); } }, "Previous page"));
    }
    if (next) {
      pager.append(
        h("button", { type: "button", id: "inbox-next", onclick: () => {
          state.cursors[state.page + 1] = next;
          state.page += 1;
          load();
        } }, "Next page"),
      );
    }
    const oldPager = list.querySelector(":scope > .pager");
    if (oldPager) oldPager.replaceWith(pager);
    else list.append(pager);
  }

  // Live refreshes keep the cards still pending in place, untouched (a half-typed answer and
  // the focus survive), drop the ones answered or closed, and add the new ones in order.
  function reconcile(items) {
    for (const n of list.querySelectorAll(":scope > .notice")) n.remove();
    const wanted = new Set(items.map((i) => i.interactionId));
    for (const [id, el] of cards) {
      if (!wanted.has(id)) {
        el.remove();
        cards.delete(id);
      }
    }
    let cursor = list.firstElementChild;
    for (const item of items) {
      let el = cards.get(item.interactionId);
      if (!el) {
        el = card(item, ctx);
        cards.set(item.interactionId, el);
      }
      if (el === cursor) cursor = cursor.nextElementSibling;
      else list.insertBefore(el, cursor);
    }
    if (!items.length) list.prepend(notice("Nothing is waiting for an answer."));
  }
  const cards = new Map();
  load();
  return { refresh: (events) => events.some((e) => e.kind !== "execution") && load() };
}

function card(item, ctx) {
  const slot = h("div", { class: "respond" });
  const open = h(
    "button",
    { type: "button", class: "respond-open", "data-interaction": item.interactionId },
    "Respond",
  );
  open.addEventListener("click", () => respond(item, slot, open, ctx));
  return h(
    "article",
    { class: "card interaction", "data-interaction": item.interactionId, "aria-labelledby": `t-${item.interactionId}` },
    h("h2", { id: `t-${item.interactionId}` }, item.stepId),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Execution"),
      h("dd", {}, h("a", { href: `#execution/${encodeURIComponent(item.executionId)}` }, item.executionId)),
      h("dt", {}, "Interaction"),
      h("dd", {}, item.interactionId),
      h("dt", {}, "Deadline"),
      h("dd", {}, time(item.deadlineEpochMs)),
      h("dt", {}, "Assignee / group"),
      h("dd", {}, `${item.assignee || "-"} / ${item.group || "-"}`),
    ),
    h("details", { open: true }, h("summary", {}, "Request payload"), h("pre", { class: "payload" }, pretty(item.requestPayload))),
    open,
    slot,
  );
}

async function respond(item, slot, open, ctx) {
  let detail = null;
  try {
    detail = await cp(`/interactions/${encodeURIComponent(item.interactionId)}`);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) {
      clear(slot).append(notice(error.message, "error"));
      return;
    }
  }
  const schema = detail && detail.responseSchema;
  const form = schema ? schemaForm(schema) : rawForm();
  const actor = h("input", { id: `actor-${item.interactionId}`, autocomplete: "off" });
  const status = h("div", { class: "form-status", role: "status" });
  const submit = h("button", { type: "submit" }, "Complete");
  const cancel = h("button", { type: "button" }, "Close");
  const el = h(
    "form",
    { class: "complete-form", "data-interaction": item.interactionId, novalidate: true },
    form.el,
    labelled(actor.id, "Completed by (optional)", actor),
    h("div", { class: "actions" }, submit, cancel),
    status,
  );
  cancel.addEventListener("click", () => {
    clear(slot);
    open.hidden = false;
    open.focus();
  });
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.clearErrors();
    clear(status);
    const body = { interactionId: item.interactionId, responsePayload: form.value() };
    if (actor.value.trim()) body.actor = actor.value.trim();
    submit.disabled = true;
    try {
      const done = await cp("/interactions/complete", { method: "POST", body });
      status.append(notice(`Completed (${done.status}${done.duplicate ? ", duplicate" : ""}).`, "ok"));
      ctx.announce(`Interaction ${item.interactionId} completed`);
    } catch (error) {
      const path = fieldPath(error);
      const control = path !== null ? form.showError(path, error.message) : null;
      status.append(notice(error.message, "error"));
      if (control) control.focus();
    } finally {
      submit.disabled = false;
    }
  });
  open.hidden = true;
  clear(slot).append(el);
  const first = el.querySelector("input, select, textarea");
  if (first) first.focus();
}

// "responsePayload.accepted.orderId" -> "accepted.orderId"; null when no field is named.
function fieldPath(error) {
  let field = error.field;
  if (!field && error.message) {
    const match = /^(responsePayload[^:\s]*)[:\s]/.exec(error.message);
    field = match ? match[1] : null;
  }
  if (!field || !field.startsWith("responsePayload")) return null;
  return field.replace(/^responsePayload\.?/, "");
}

function rawForm() {
  // No schema (an untyped await): the answer as JSON text.
  const area = h("textarea", { id: "raw-response", rows: "6", "aria-describedby": "raw-response-error" });
  const err = h("p", { class: "field-error", id: "raw-response-error", hidden: true });
  const el = h("div", { class: "field", "data-path": "" }, h("label", { for: "raw-response" }, "Response (JSON)"), area, err);
  return {
    el,
    value: () => {
      try {
        return JSON.parse(area.value);
      } catch {
        return area.value;
      }
    },
    clearErrors: () => {
      err.hidden = true;
      area.removeAttribute("aria-invalid");
    },
    showError: (_path, message) => {
      err.textContent = message;
      err.hidden = false;
      area.setAttribute("aria-invalid", "true");
      return area;
    },
  };
}
