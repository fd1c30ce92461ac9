// The signed-in session (sessionStorage: it ends with the tab) and fetch with the bearer token.
// Errors from the gateway are RFC 9457 problem+json; ApiError carries their detail.
const KEY = "pantau.session";
export const RANK = { viewer: 0, auditor: 0, operator: 1, supervisor: 2, admin: 3 };

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

export function session() {
  try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; }
}

export function token() { return session()?.token ?? null; }

// At least `minimum`; an auditor reads the log but is no operator.
export function allowed(minimum, role = session()?.role) {
  if (!role || !(role in RANK)) return false;
  if (minimum !== "viewer" && role === "auditor") return false;
  return RANK[role] >= RANK[minimum];
}

// The problem+json body of a failed response as an ApiError (or a plain one when it is not JSON).
export async function problem(res) {
  let body = {};
  try { body = await res.json(); } catch { /* not JSON */ }
  const error = new ApiError(res.status, body.title, body.detail);
  const wait = Number(res.headers.get("Retry-After"));
  error.retryAfterMs = Number.isFinite(wait) && wait > 0 ? wait * 1000 : 0;
  return error;
}

export async function signIn(username, password) {
  const res = await fetch("/api/v1/session", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (!res.ok) throw await problem(res);
  const body = await res.json();
  sessionStorage.setItem(KEY, JSON.stringify({
    token: body.token, username: body.username, role: body.role, expires_at: body.expires_at,
  }));
  return session();
}

export async function signOut() {
  const bearer = token();
  sessionStorage.removeItem(KEY);
  if (bearer) {
    await fetch("/api/v1/session", { method: "DELETE", headers: { Authorization: `Bearer ${bearer}` } })
      .catch(() => {});
  }
}

// fetch with the session's bearer; a 401 ends the session here too and tells the page.
export async function request(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  const bearer = options.token ?? token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let body = options.body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  }
  const res = await fetch(path, { method: options.method || "GET", headers, body, signal: options.signal });
  if (res.status === 401 && options.token === undefined) {
    sessionStorage.removeItem(KEY);
    document.dispatchEvent(new CustomEvent("pantau:signedout"));
  }
  return res;
}

export async function getJSON(path, options = {}) {
  const res = await request(path, options);
  if (!res.ok) throw await problem(res);
  return res.json();
}

export async function sendJSON(method, path, json) {
  const res = await request(path, { method, json });
  if (!res.ok) throw await problem(res);
  return res.status === 204 ? null : res.json();
}
