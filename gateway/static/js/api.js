// The signed-in session (sessionStorage: it ends with the tab) and fetch with the bearer token.
// Errors from the gateway are RFC 9457 problem+json; ApiError carries their detail.
// An enrolled wall display runs on its own token instead, kept in localStorage: a display is a
// dedicated machine whose wall must come back by itself after a reload or a reboot.
const KEY = "pantau.session";
const DISPLAY_KEY = "pantau.display";
export const RANK = { viewer: 0, auditor: 0, operator: 1, supervisor: 2, admin: 3 };

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

// The stored display ({token, id, name, username}), or null on a person's browser.
export function display() {
  try {
    const stored = JSON.parse(localStorage.getItem(DISPLAY_KEY));
    return stored && typeof stored.token === "string" ? stored : null;
  } catch { return null; }
}

// The caller: the enrolled display when this browser is one, else the signed-in person.
export function session() {
  const shown = display();
  if (shown) return { token: shown.token, username: shown.username || "display", role: "viewer", display: shown };
  try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; }
}

// The URL an administrator enrols a display with ends in #display=TOKEN (a fragment never reaches
// a server): keep the token and take it out of the address bar and the history. True if it did.
export function takeDisplayFragment() {
  const match = /^#display=([A-Za-z0-9_-]{8,128})$/.exec(location.hash);
  if (!match) return false;
  localStorage.setItem(DISPLAY_KEY, JSON.stringify({ token: match[1] }));
  history.replaceState(null, "", location.pathname + location.search);
  return true;
}

export function forgetDisplay() { localStorage.removeItem(DISPLAY_KEY); }

// Asks the gateway who the stored display is and keeps its name; throws ApiError (401: revoked).
export async function checkDisplay() {
  const stored = display();
  const res = await fetch("/api/v1/session", { headers: { Authorization: `Bearer ${stored.token}` }, cache: "no-store" });
  if (!res.ok) throw await problem(res);
  const body = await res.json();
  if (!body.display) { // a person's token in a display link: not a display
    forgetDisplay();
    return null;
  }
  localStorage.setItem(DISPLAY_KEY, JSON.stringify({ token: stored.token, id: body.display.id,
    name: body.display.name, username: body.username }));
  return session();
}

// The gateway refused the caller's token (401): a person's session ends and the page signs in
// again; a display was revoked, and the page says so instead of retrying.
export function refused() {
  if (display()) {
    document.dispatchEvent(new CustomEvent("pantau:revoked"));
    return;
  }
  sessionStorage.removeItem(KEY);
  document.dispatchEvent(new CustomEvent("pantau:signedout"));
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
  // Extension members (RFC 9457): a stable reason code and its facts, for the page's own words.
  error.reason = typeof body.reason === "string" ? body.reason : null;
  error.members = body;
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

// fetch with the caller's bearer; a 401 ends the session here too (or marks the display revoked)
// and tells the page.
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
  if (res.status === 401 && options.token === undefined) refused();
  return res;
}

export async function getJSON(path, options = {}) {
  const res = await request(path, options);
  if (!res.ok) throw await problem(res);
  return res.json();
}

// bearer: another token than the session's (a disposition token on the viewer page).
export async function sendJSON(method, path, json, bearer = undefined) {
  const res = await request(path, { method, json, token: bearer });
  if (!res.ok) throw await problem(res);
  return res.status === 204 ? null : res.json();
}
