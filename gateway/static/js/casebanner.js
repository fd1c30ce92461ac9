// Leadership hears of a case at once (SOP step 5): on every page a supervisor has open, a red banner
// for each case that opens or escalates (case.opened / case.escalated over the event stream), with
// the way to it, until someone acknowledges it or the supervisor puts it aside. Cases still waiting
// for an acknowledgement when a page opens are listed too. The shell starts this for supervisors.
import { getJSON } from "./api.js";
import { EventStream } from "./eventstream.js";
import { t } from "./i18n.js";
import { kindText, severityText } from "./casewords.js";
import { el } from "./shell.js";
import { clock } from "./timefmt.js";
import { summaryOf } from "./tray.js";

const KINDS = "kinds=case.opened,case.escalated,case.acknowledged,case.closed";
const STORE = "pantau.caseBanners.aside"; // per tab, like the session: "case:escalations" put aside

function putAside() {
  try { return new Set(JSON.parse(sessionStorage.getItem(STORE)) || []); } catch { return new Set(); }
}

export function followCases(who) {
  const aside = putAside();
  const banners = new Map(); // case id -> {key, text(), at}
  const host = el("div", { id: "case-banners", class: "case-banners" });
  document.getElementById("shell").after(host);

  function draw() {
    const items = [...banners.entries()].sort((a, b) => Date.parse(b[1].at) - Date.parse(a[1].at));
    host.replaceChildren(...items.map(([id, b]) => el("div", { class: `case-banner ${b.escalated ? "escalated" : ""}`,
      role: "alert", dataset: { case: id, kind: b.escalated ? "case.escalated" : "case.opened" } },
    el("span", { class: "case-banner-text" }, b.text()),
    el("a", { href: `/static/cases.html#case=${encodeURIComponent(id)}`, class: "case-banner-link",
      onclick: () => dismiss(id) }, t("cases.open")),
    el("button", { type: "button", class: "case-banner-close", "aria-label": t("banner.dismiss"), title: t("banner.dismiss"),
      onclick: () => dismiss(id) }, "×"))));
  }

  function show(id, entry) {
    if (aside.has(entry.key)) return;
    banners.set(id, entry);
    draw();
  }

  function dismiss(id) {
    const b = banners.get(id);
    if (!b) return;
    aside.add(b.key);
    sessionStorage.setItem(STORE, JSON.stringify([...aside].slice(-200)));
    banners.delete(id);
    draw();
  }

  const stream = new EventStream(KINDS);
  stream.before(async () => {
    try {
      const { cases } = await getJSON("/api/v1/cases?state=opened");
      for (const c of cases) {
        if (banners.has(c.id) || c.opened_by === who.username) continue;
        show(c.id, { key: `${c.id}:${c.escalations || 0}`, at: c.opened_at, escalated: c.escalations > 0,
          text: () => t("banner.waiting", { kind: kindText(c.kind), severity: severityText(c.severity), title: c.title,
            since: clock(c.opened_at) }) });
      }
    } catch { /* no cases here, or not for this role */ }
  });
  stream.on("alert", (alert) => {
    const d = alert.details || {};
    const id = d.case ? String(d.case) : null;
    if (!id) return;
    if (alert.kind === "case.acknowledged" || alert.kind === "case.closed") {
      if (banners.delete(id)) draw();
      return;
    }
    if (alert.kind === "case.opened" && d.by === who.username) return; // one's own case
    const escalated = alert.kind === "case.escalated";
    show(id, { key: `${id}:${escalated ? d.escalations ?? "?" : 0}`, at: alert.at, escalated,
      text: () => summaryOf(alert) });
  });
  stream.on("state", (connected) => { host.dataset.live = String(connected); });
  document.addEventListener("pantau:lang", draw);
  document.addEventListener("pantau:revoked", () => stream.stop());
  stream.start();
}
