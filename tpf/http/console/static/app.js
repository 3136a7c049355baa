// The console's entry point: login (tokens in sessionStorage), the hash router over the
// pages, the live stream and the shared "ask for a reason" dialog.

import { clearSession, cp, saveSession, session } from "./api.js";
import { clear, h, labelled, notice } from "./dom.js";
import { dlqPage } from "./dlq.js";
import { executionPage, executionsPage } from "./executions.js";
import { releasesPage, workersPage } from "./fleet.js";
import { inboxPage } from "./inbox.js";
import { Live } from "./live.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const sessionBar = document.getElementById("session");
const liveState = document.getElementById("live-state");
let current = {};
let refreshTimer = null;
const pendingEvents = [];
let announcer = null;
let routed = false;

const ctx = {
  announce(text, isError = false) {
    if (!announcer) return;
    announcer.replaceChildren(notice(text, isError ? "error" : "ok"));
  },
  askReason,
};

const live = new Live(
  (kind, event) => {
    // Coalesce a burst of commits into one re-read of the page, which sees every event of it.
    pendingEvents.push({ kind, ...event });
    if (refreshTimer) clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      const events = pendingEvents.splice(0);
      if (current.refresh) current.refresh(events);
    }, 150);
  },
  (state) => {
    liveState.textContent = state;
    liveState.dataset.state = state;
  },
);

function loginPage(message) {
  const s = session();
  const tenant = h("input", { id: "login-tenant", required: true, autocomplete: "off", value: s.tenant });
  const cpToken = h("input", { id: "login-cp-token", type: "password", required: true, autocomplete: "off" });
  const adminToken = h("input", { id: "login-admin-token", type: "password", autocomplete: "off" });
  const status = h("div", { role: "status", id: "login-status" }, message ? notice(message, "error") : null);
  const form = h(
    "form",
    { id: "login-form", class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Log in"),
    h("p", {}, "Tokens stay in this tab's session storage and are sent only as Authorization headers."),
    labelled("login-tenant", "Tenant", tenant),
    labelled("login-cp-token", "Control-plane token", cpToken),
    labelled("login-admin-token", "Admin token (optional: re-drive, cancel, releases, workers)", adminToken),
    h("button", { type: "submit", id: "login-submit" }, "Log in"),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    saveSession({ tenant: tenant.value.trim(), cp: cpToken.value.trim(), admin: adminToken.value.trim() });
    try {
      await cp("/interactions/pending?limit=1");
    } catch (error) {
      clearSession();
      clear(status).append(notice(`Login failed: ${error.message}`, "error"));
      cpToken.focus();
      return;
    }
    if (!location.hash || location.hash === "#login") location.hash = "#inbox";
    else route();
  });
  nav.hidden = true;
  sessionBar.hidden = true;
  live.stop();
  // The page that was showing must not re-read anything without a session.
  current = {};
  if (refreshTimer) clearTimeout(refreshTimer);
  refreshTimer = null;
  pendingEvents.length = 0;
  clear(main).append(form);
  (s.tenant ? cpToken : tenant).focus();
}

const PAGES = {
  inbox: () => inboxPage(main, ctx),
  executions: () => executionsPage(main, ctx),
  dlq: () => dlqPage(main, ctx),
  releases: () => releasesPage(main, ctx),
  workers: () => workersPage(main, ctx),
};

function route() {
  const s = session();
  if (!s.tenant || !s.cp) return loginPage();
  const [page, ...rest] = (location.hash.replace(/^#/, "") || "inbox").split("/");
  nav.hidden = false;
  sessionBar.hidden = false;
  document.getElementById("tenant-label").textContent = `tenant ${s.tenant}`;
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.page === page || (page === "execution" && link.dataset.page === "executions")) {
      link.setAttribute("aria-current", "page");
    } else {
      link.removeAttribute("aria-current");
    }
  }
  clear(main);
  announcer = h("div", { id: "announcer", role: "status", "aria-live": "polite" });
  main.append(announcer);
  if (page === "execution" && rest.length) {
    current = executionPage(main, ctx, decodeURIComponent(rest.join("/")));
  } else {
    current = (PAGES[page] || PAGES.inbox)();
  }
  document.title = `tpf console · ${page}`;
  if (!live.controller) live.start();
  // After a move between pages, focus goes to the new page, so a keyboard user starts reading
  // it at its top; a page freshly loaded starts at the skip link, as any page does.
  if (routed) main.focus({ preventScroll: true });
  routed = true;
}

// The one dialog: resolves with the reason typed, or null when dismissed.
function askReason(what) {
  const dialog = document.getElementById("reason-dialog");
  const text = document.getElementById("reason-text");
  const error = document.getElementById("reason-error");
  const opener = document.activeElement;
  document.getElementById("reason-what").textContent = what;
  text.value = "";
  error.hidden = true;
  return new Promise((resolve) => {
    const form = document.getElementById("reason-form");
    const cancel = document.getElementById("reason-cancel");
    function finish(value) {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      if (opener && opener.isConnected) opener.focus();
      resolve(value);
    }
    function onSubmit(event) {
      event.preventDefault();
      if (!text.value.trim()) {
        error.textContent = "A reason is required.";
        error.hidden = false;
        text.setAttribute("aria-invalid", "true");
        text.focus();
        return;
      }
      text.removeAttribute("aria-invalid");
      finish(text.value.trim());
    }
    function onCancel(event) {
      event.preventDefault();
      finish(null);
    }
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    text.focus();
  });
}

document.getElementById("logout").addEventListener("click", () => {
  clearSession();
  live.stop();
  location.hash = "#login";
  loginPage();
});
// The skip link moves focus to the page without touching the hash (the hash is the route).
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", route);
route();
