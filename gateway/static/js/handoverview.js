// A handover's content (the server's pre-filled draft or a filed one) as readable sections: the
// period, each camera's outages, recording gaps, alerts, open holds, dispositions, patrols done and
// missed, checks, equipment problems and the notes. Times are the browser's local time.
// handoverMeta adds what a filed handover has besides: its SHA-256, acceptance and amendments.
import { has, lang, t } from "./i18n.js";
import { el } from "./shell.js";
import { dateTime, hms, span } from "./timefmt.js";
import { summaryOf } from "./tray.js";
import { digest } from "./deskrecord.js";

function stateText(state) {
  return state && has(`state.${state}`) ? t(`state.${state}`) : state || "–";
}

function severityText(severity) {
  return has(`alerts.${severity}`) ? t(`alerts.${severity}`) : severity || "";
}

// One section: a heading, and the list or "none".
function part(key, items, item) {
  const list = items || [];
  return el("section", { class: "ho-part", dataset: { part: key } },
    el("h3", {}, t(key), list.length ? ` (${list.length})` : ""),
    list.length ? el("ul", {}, ...list.map((x) => el("li", {}, ...[item(x)].flat()))) : el("p", { class: "note" }, t("ho.none")));
}

function outage(o) {
  const why = [o.reason, problemsText(o.problems)].filter(Boolean).join("; ");
  return `${stateText(o.state)}: ${span(o.start, o.end, t("ho.ongoing"))} (${hms(o.seconds)})${why ? ` — ${why}` : ""}`;
}

function cameras(list) {
  const rows = (list || []).map((c) => el("tr", { dataset: { camera: c.camera } },
    el("th", { scope: "row" }, c.name && c.name !== c.camera ? `${c.name} (${c.camera})` : c.camera),
    el("td", {}, stateText(c.state_now)),
    el("td", {}, (c.outages || []).length
      ? el("ul", { class: "plain" }, ...c.outages.map((o) => el("li", {}, outage(o))))
      : el("span", { class: "note" }, t("ho.noOutages")))));
  return el("section", { class: "ho-part", dataset: { part: "ho.cameras" } },
    el("h3", {}, t("ho.cameras")),
    rows.length
      ? el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("check.camera")),
        el("th", { scope: "col" }, t("ho.stateNow")), el("th", { scope: "col" }, t("ho.outages")))), el("tbody", {}, ...rows))
      : el("p", { class: "note" }, t("ho.none")));
}

// A disposition as desk/prefill.py lists it (issued or used during the shift).
function disposition(d) {
  return [d.party, d.letter_number ? t("ho.letter", { number: d.letter_number }) : null, (d.cameras || []).join(", "),
    t("ho.views", { used: d.views_used ?? 0, max: d.max_views ?? "–" }),
    d.issued_at ? t("ho.issuedAt", { at: dateTime(d.issued_at) }) : null,
    d.last_view_at ? t("ho.lastView", { at: dateTime(d.last_view_at) }) : null,
    d.revoked ? t("ho.revoked") : null].filter(Boolean).join(" · ");
}

function counted(list) {
  return list?.length ? `${list.length} (${list.join(", ")})` : "0";
}

// A camera with the operator's remark: "gate (lens fogged)".
function remarked(list) {
  return list?.length ? list.map((x) => (x.remark ? `${x.camera} (${x.remark})` : x.camera)).join(", ") : "–";
}

function problemsText(problems) {
  return (problems || []).map((p) => (has(`problem.${p}`) ? t(`problem.${p}`) : p)).join(", ");
}

// draft: the operator's notes are still in the form below it, not in the content.
export function handoverContent(content, { draft = false } = {}) {
  const c = content || {};
  const period = c.period || {};
  const dispositions = c.dispositions || {};
  const patrols = c.patrols || {};
  return el("div", { class: "handover" },
    el("dl", { class: "claims" },
      el("dt", {}, t("ho.period")), el("dd", { class: "ho-period" }, span(period.start, period.end, t("ho.ongoing"))),
      el("dt", {}, t("ho.operator")), el("dd", {}, c.operator || "–"),
      el("dt", {}, t("ho.slot")), el("dd", {}, c.slot || t("ho.noSlot"))),
    cameras(c.cameras),
    part("ho.gaps", c.recording_gaps, (g) => `${g.camera}: ${span(g.start, g.end, t("ho.ongoing"))} (${hms(g.seconds)})${g.reason ? ` — ${g.reason}` : ""}`),
    part("ho.alerts", c.alerts, (a) => [el("time", { datetime: a.at }, dateTime(a.at)), " ",
      el("span", { class: `sev sev-${a.severity}` }, severityText(a.severity)), " ",
      a.camera ? `${a.camera}: ` : "", summaryOf(a, lang())]),
    c.alerts_total > (c.alerts || []).length
      ? el("p", { class: "note" }, t("ho.alertsCut", { shown: c.alerts.length, total: c.alerts_total })) : null,
    part("ho.holds", c.open_holds, (h) => `${h.camera}: ${span(h.start, h.end)} — ${h.reason || ""}${h.owner ? ` (${h.owner})` : ""}`),
    part("ho.bookmarks", c.bookmarks, (b) => `${b.camera}: ${b.end ? span(b.start, b.end) : dateTime(b.start)} — ${b.note}${b.author ? ` (${b.author})` : ""}`),
    part("ho.dispIssued", dispositions.issued, disposition),
    part("ho.dispUsed", dispositions.used, disposition),
    part("ho.patrolsDone", patrols.done, (p) => [`${span(p.started_at, p.ended_at)}: ${t("ho.patrolCounts",
      { acknowledged: counted(p.acknowledged), skipped: counted(p.skipped) })}`,
    (p.reports || []).length ? el("ul", {}, ...p.reports.map((r) => el("li", { class: "ho-notes" }, `${r.camera}: ${r.report}`))) : null]),
    part("ho.patrolsMissed", patrols.missed, (m) => t("ho.missed", { span: span(m.start, m.end), every: patrols.interval_min ?? "–" })),
    part("ho.checks", c.checks, (k) => `${dateTime(k.at)}: ${t("ho.checkCounts",
      { notChecked: (k.not_checked || []).join(", ") || "–", notOk: remarked(k.not_ok) })}`),
    part("ho.equipment", c.equipment_problems, (e) => {
      const why = [e.remark, e.probe && !e.probe.ok ? e.probe.detail : null].filter(Boolean).join("; ");
      return `${e.name || e.id}${e.at ? ` (${dateTime(e.at)})` : ""}${why ? `: ${why}` : ""}`;
    }),
    draft ? null : el("section", { class: "ho-part", dataset: { part: "ho.notes" } },
      el("h3", {}, t("ho.notes")), c.notes ? el("p", { class: "ho-notes" }, c.notes) : el("p", { class: "note" }, t("ho.none"))));
}

// A filed handover's record: who filed it and when, its digest, its countersignature (or that it
// waits for one) and the amendments made since.
export function handoverMeta(h) {
  const a = h.acceptance;
  const accepted = a
    ? el("p", { class: "ok accepted" }, t("ho.acceptedBy", { who: a.operator, at: dateTime(a.at) }),
      a.objections ? el("span", { class: "objections" }, ` ${t("ho.objections")}: ${a.objections}`) : ` ${t("ho.noObjections")}`)
    : el("p", { class: "warn waiting" }, t("ho.waiting"));
  return el("div", { class: "ho-meta" },
    el("p", {}, t("ho.filedBy", { who: h.operator, at: dateTime(h.filed_at) })),
    el("p", {}, "SHA-256: ", digest(h.sha256)),
    accepted,
    (h.amendments || []).length
      ? el("section", { class: "ho-part" }, el("h3", {}, t("ho.amendments")),
        el("ul", {}, ...h.amendments.map((m) => el("li", {}, `${dateTime(m.at)}, ${m.operator}: `, el("span", { class: "ho-notes" }, m.text)))))
      : null);
}
