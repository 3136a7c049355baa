// The REST API with the operator's tokens. Tokens live in sessionStorage (gone when the tab
// closes) and travel only in the Authorization header, never in a URL.

const KEYS = { tenant: "tpf.tenant", cp: "tpf.controlPlaneToken", admin: "tpf.adminToken" };

export function session() {
  return {
    tenant: sessionStorage.getItem(KEYS.tenant) || "",
    cp: sessionStorage.getItem(KEYS.cp) || "",
    admin: sessionStorage.getItem(KEYS.admin) || "",
  };
}

export function saveSession({ tenant, cp, admin }) {
  sessionStorage.setItem(KEYS.tenant, tenant);
  sessionStorage.setItem(KEYS.cp, cp);
  if (admin) sessionStorage.setItem(KEYS.admin, admin);
  else sessionStorage.removeItem(KEYS.admin);
}

export function clearSession() {
  for (const key of Object.values(KEYS)) sessionStorage.removeItem(key);
}

export function hasAdmin() {
  return Boolean(session().admin);
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }

  get field() {
    return this.details.field || null;
  }
}

const enc = encodeURIComponent;

export function cpBase() {
  return `/tpf/control-plane/tenants/${enc(session().tenant)}`;
}

export function adminBase() {
  return `/tpf/admin/tenants/${enc(session().tenant)}`;
}

async function call(url, token, { method = "GET", body } = {}) {
  // Logged out meanwhile (another tab, or the session cleared under a page still polling): no
  // request with an empty tenant or token, which could only be refused.
  if (!session().tenant || !token) throw new ApiError(0, "NOT_LOGGED_IN", "log in first");
  const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || `HTTP_${response.status}`,
      error.message || response.statusText || "request failed",
      error.details,
    );
  }
  return { data, headers: response.headers };
}

export async function cp(path, options) {
  return (await call(cpBase() + path, session().cp, options)).data;
}

export async function cpWithHeaders(path, options) {
  return call(cpBase() + path, session().cp, options);
}

export async function admin(path, options) {
  const token = session().admin;
  if (!token) throw new ApiError(0, "NO_ADMIN_TOKEN", "this needs the admin token (log in again with it)");
  return (await call(adminBase() + path, token, options)).data;
}

// A cp call that may use the admin token (status with ?include=... needs it).
export async function cpAsAdmin(path, options) {
  const token = session().admin;
  if (!token) throw new ApiError(0, "NO_ADMIN_TOKEN", "this needs the admin token");
  return (await call(cpBase() + path, token, options)).data;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && String(value).trim() !== "") {
      search.set(key, String(value).trim());
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
