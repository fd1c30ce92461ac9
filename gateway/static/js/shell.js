// The frame every signed-in page shares: header with navigation by role, language switch,
// who is signed in and sign-out; the sign-in form when nobody is. An enrolled wall display
// (api.js) has neither: its header names the display, and its revocation fills the screen.
import { ApiError, allowed, checkDisplay, forgetDisplay, session, signIn, signOut, takeDisplayFragment } from "./api.js";
import { apply, languages, lang, ready, setLang, t } from "./i18n.js";

// The pages, in menu order, and the least role that may open each (`also`: roles offered it
// besides, outside the ranking: the auditor reads the exports).
export const PAGES = [
  { id: "wall", href: "/", key: "nav.wall", minimum: "viewer" },
  { id: "cases", href: "/static/cases.html", key: "nav.cases", minimum: "operator" },
  { id: "shift", href: "/static/shift.html", key: "nav.shift", minimum: "operator" },
  { id: "tour", href: "/static/tour.html", key: "nav.tour", minimum: "viewer" },
  { id: "checks", href: "/static/checks.html", key: "nav.checks", minimum: "operator" },
  { id: "recordings", href: "/static/recordings.html", key: "nav.recordings", minimum: "operator" },
  { id: "requests", href: "/static/requests.html", key: "nav.requests", minimum: "operator" },
  { id: "approvals", href: "/static/approvals.html", key: "nav.approvals", minimum: "supervisor" },
  { id: "exports", href: "/static/exports.html", key: "nav.exports", minimum: "supervisor", also: ["auditor"] },
  { id: "cameras", href: "/static/cameras.html", key: "nav.cameras", minimum: "admin" },
  { id: "displays", href: "/static/displays.html", key: "nav.displays", minimum: "admin" },
  { id: "users", href: "/static/users.html", key: "nav.users", minimum: "admin" },
];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}
export { el };

export function languageSwitch() {
  const select = el("select", { id: "lang", dataset: { i18nAttr: "aria-label:lang.choose;title:lang.choose" } },
    ...languages().map((code) => el("option", { value: code, dataset: { i18n: `lang.${code}` } })));
  select.value = lang();
  select.addEventListener("change", () => setLang(select.value));
  return select;
}

function header(pageId, who) {
  const bar = document.getElementById("shell");
  const nav = el("nav", { dataset: { i18nAttr: "aria-label:nav.label" } });
  const list = el("ul");
  for (const page of PAGES) {
    if (!who || !(allowed(page.minimum, who.role) || page.also?.includes(who.role))) continue;
    list.append(el("li", {}, el("a", {
      href: page.href, "aria-current": page.id === pageId ? "page" : null, dataset: { i18n: page.key },
    })));
  }
  nav.append(list);
  const user = el("div", { class: "user" });
  if (who?.display) {
    user.append(el("span", { id: "who", class: "display-name" }, `${who.display.name || who.username} · `,
      el("span", { dataset: { i18n: "display.label" } })));
  } else if (who) {
    user.append(
      el("span", { id: "who" }, `${who.username} · `, el("span", { dataset: { i18n: `role.${who.role}` } })),
      el("button", { type: "button", id: "signout", dataset: { i18n: "auth.signout" },
        onclick: async () => { await signOut(); location.reload(); } }),
    );
  }
  bar.replaceChildren(
    el("a", { class: "skip", href: "#page", dataset: { i18n: "nav.skip" } }),
    el("span", { class: "brand" }, "Pantau"), nav, el("div", { class: "tools" }, languageSwitch(), user),
  );
  apply(bar);
}

function signInForm() {
  const form = el("form", { id: "signin", class: "card narrow" },
    el("h2", { dataset: { i18n: "auth.title" } }),
    el("label", {}, el("span", { dataset: { i18n: "auth.username" } }),
      el("input", { name: "username", autocomplete: "username", required: true, autofocus: true })),
    el("label", {}, el("span", { dataset: { i18n: "auth.password" } }),
      el("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    el("button", { class: "primary", dataset: { i18n: "auth.signin" } }),
    el("p", { id: "error", class: "error", role: "alert" }),
  );
  const holder = el("main", { id: "signin-main" }, form); // the visible main landmark until signed in
  document.getElementById("page").before(holder);
  apply(form);
  form.username.focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = form.querySelector("#error");
      error.textContent = "";
      try {
        const who = await signIn(form.username.value, form.password.value);
        holder.remove();
        resolve(who);
      } catch (err) {
        error.textContent = err instanceof ApiError && err.status === 401 ? t("auth.failed") : err.message;
      }
    });
  });
}

// A revoked display: one message over the whole screen, nothing left running behind it (the page
// stops its own work on "pantau:revoked"). The button makes this browser an ordinary one again.
function revokedScreen() {
  if (document.getElementById("revoked")) return;
  document.getElementById("page").hidden = true;
  const screen = el("main", { id: "revoked", class: "revoked", role: "alert" },
    el("p", { class: "revoked-text", dataset: { i18n: "display.revoked" } }),
    el("button", { type: "button", id: "forget-display", dataset: { i18n: "display.forget" },
      onclick: () => { forgetDisplay(); location.reload(); } }));
  document.getElementById("page").before(screen);
  apply(screen);
}

// The stored display as the gateway knows it now; null once it is revoked (the screen says so).
// Unreachable gateway: the display goes on as stored, and its page retries.
async function displayNow(who) {
  try {
    return await checkDisplay();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      revokedScreen();
      return null;
    }
    return who;
  }
}

// Show the page once someone with at least `minimum` is signed in (or this is an enrolled
// display); returns who.
export async function start(pageId, minimum) {
  await ready;
  takeDisplayFragment();
  // The display's URL opened over this very page changes only the fragment: start again as the display.
  window.addEventListener("hashchange", () => { if (takeDisplayFragment()) location.reload(); });
  apply(document);
  document.addEventListener("pantau:revoked", revokedScreen);
  let who = session();
  if (who?.display) {
    who = await displayNow(who);
    if (!who) {
      if (document.getElementById("revoked")) { header(pageId, null); return null; }
      who = session(); // not a display's token after all: sign in as usual
    }
  }
  header(pageId, who);
  if (!who) {
    who = await signInForm();
    header(pageId, who);
  }
  document.addEventListener("pantau:signedout", () => location.reload());
  // The session's end: back to the sign-in form instead of failing requests one by one.
  const left = Date.parse(who.expires_at) - Date.now();
  if (left > 0 && left < 2 ** 31) {
    setTimeout(() => { sessionStorage.clear(); location.reload(); }, left);
  }
  const page = document.getElementById("page");
  if (!allowed(minimum, who.role)) {
    page.replaceChildren(el("p", { class: "error", role: "alert", dataset: { i18n: "auth.forbidden" } }));
    apply(page);
    page.hidden = false;
    return null;
  }
  page.hidden = false;
  // Leadership hears of every new or escalated case on whatever page it has open.
  if (!who.display && allowed("supervisor", who.role)) {
    import("./casebanner.js").then((banner) => banner.followCases(who)).catch(reportError);
  }
  return who;
}
