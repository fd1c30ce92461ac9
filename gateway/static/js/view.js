// The external viewer (SOP step 9): plays the approved window of the approved cameras with the
// disposition token from the link's fragment (#token=...; a fragment is never sent to a server,
// so the token stays out of access logs and proxies). The payload is decoded here only to label
// the page; the gateway checks the signature, scope, time, views and revocation on every play.
// A disposition that allows copies offers Download (viewcopy.js).
import { apply, ready, t } from "./i18n.js";
import { Player } from "./player.js";
import { el, languageSwitch } from "./shell.js";
import { claimsOf } from "./jwt.js";
import { dateTime } from "./timefmt.js";
import { copySection } from "./viewcopy.js";

const STORE = "pantau.disposition";

await ready;
document.getElementById("shell").append(el("span", { class: "brand" }, "Pantau"),
  el("div", { class: "tools" }, languageSwitch()));
apply(document);

// The token from the link's fragment moves to sessionStorage (a reload keeps working) and off
// the address bar and history.
function takeFromHash() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (!fromHash) return false;
  sessionStorage.setItem(STORE, fromHash);
  history.replaceState(null, "", location.pathname);
  return true;
}
takeFromHash();
let token = sessionStorage.getItem(STORE);
const refusal = document.getElementById("refusal");
const details = document.getElementById("details");
const players = document.getElementById("players");
const copy = document.getElementById("copy");
let stopCopy = null;

let lastRefusal = "";

function refuse(text) {
  lastRefusal = text;
  refusal.hidden = false;
  document.getElementById("refusal-text").textContent = text;
  refusal.focus();
}

function render() {
  refusal.hidden = true;
  lastRefusal = "";
  const claims = claimsOf(token);
  if (!token) { refuse(t("view.noToken")); return; }
  if (!claims) { refuse(t("view.badToken")); return; }
  stopCopy?.();
  stopCopy = copySection(copy, { token: () => token, claims });
  const start = new Date(claims.win.start);
  const end = new Date(claims.win.end);
  details.replaceChildren(el("dl", { class: "claims" },
    el("dt", {}, t("view.grantee")), el("dd", {}, `${claims.sub || ""} · ${claims.org || ""}`),
    el("dt", {}, t("req.purpose")), el("dd", {}, claims.purpose || ""),
    el("dt", {}, t("req.cameras")), el("dd", {}, claims.cams.join(", ")),
    el("dt", {}, t("req.window")), el("dd", {}, `${dateTime(start)} – ${dateTime(end)}`),
    el("dt", {}, t("view.expires")), el("dd", {}, claims.exp ? dateTime(claims.exp * 1000) : ""),
    el("dt", {}, t("view.views")), el("dd", {}, t("view.viewsText", { n: claims.max_views ?? "?" })),
    el("dt", {}, t("view.approvers")), el("dd", {}, (claims.approvers || []).join(", "))));
  if (claims.exp && claims.exp * 1000 < Date.now()) {
    details.append(el("p", { class: "error" }, t("view.expiredHint")));
  }
  const old = [...players.querySelectorAll(".player")].map((node) => node.player);
  old.forEach((p) => p.stop());
  players.replaceChildren(...claims.cams.map((camera) => new Player({
    camera, start, end, bearer: () => token, onRefused: (detail) => refuse(detail),
  }).element));
}

document.addEventListener("pantau:lang", () => {
  const kept = lastRefusal;
  render();
  if (kept && token && claimsOf(token)) refuse(kept); // the gateway's words stay as they were
});
// Another link pasted into this tab: only the fragment changes, so the page does not reload.
window.addEventListener("hashchange", () => {
  if (takeFromHash()) { token = sessionStorage.getItem(STORE); render(); }
});
window.addEventListener("pagehide", () => {
  for (const node of players.querySelectorAll(".player")) node.player.stop();
});
render();
