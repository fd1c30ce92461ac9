// One case in full: what it is, its cameras (to the replay page), the complainant (personal data,
// only for the roles the gateway shows it to), the playbook's steps, what can be done now, its
// berita acara (the signed PDF and its detached signature) and its timeline in local time.
import { lang, t } from "./i18n.js";
import { caseActions } from "./caseactions.js";
import { casePictures } from "./casepictures.js";
import { stepList } from "./casesteps.js";
import {
  channelText, eventText, forwardChannelText, kindText, severityText, stateText, stepText, WORKING_STATES,
} from "./casewords.js";
import { digest } from "./deskrecord.js";
import { pdfLink } from "./pdf.js";
import { el } from "./shell.js";
import { dateTime, hms, span, todayISO } from "./timefmt.js";

function facts(pairs) {
  return el("dl", { class: "claims" }, ...pairs.filter(([, value]) => value !== null && value !== undefined && value !== "")
    .flatMap(([key, value]) => [el("dt", {}, t(key)), el("dd", {}, ...[value].flat())]));
}

function cameraLinks(c, names) {
  const day = todayISO(new Date(c.at || c.opened_at));
  const links = (c.cameras || []).map((id) => el("a", { href: `/static/recordings.html#camera=${encodeURIComponent(id)}&day=${day}`,
    dataset: { camera: id } }, names.get(id) || id));
  return links.length ? links.flatMap((a, i) => (i ? [", ", a] : [a])) : null;
}

function reporter(c) {
  if (c.reporter_hidden) return el("span", { class: "note" }, t("cases.reporterHidden"));
  if (!c.reporter) return null;
  return el("span", { class: "personal" }, [c.reporter.name, c.reporter.contact].filter(Boolean).join(" · "),
    " ", el("span", { class: "pii" }, t("cases.personalData")));
}

// What one timeline event says, from its content (the contract's fields per kind).
function eventContent(ev, c, names) {
  const x = ev.content || {};
  switch (ev.kind) {
    case "opened": return x.source && x.source !== "api" ? t("cases.source", { source: x.source }) : "";
    case "acknowledged": return x.note || "";
    case "escalated": return t("cases.escalatedText", { waited: hms(x.waited_s), n: x.escalations ?? "?" });
    case "forwarded":
      return [t("cases.forwardedText", { name: x.name || x.to || "?", channel: forwardChannelText(x.channel) }), x.note]
        .filter(Boolean).join(" — ");
    case "followed_up": return x.action || "";
    case "step_done": {
      const step = (c.steps || []).find((s) => s.id === x.step);
      return [step ? stepText(step, lang()) : x.step, x.note].filter(Boolean).join(" — ");
    }
    case "hold_placed": return (x.holds || []).map((h) => `${names.get(h.camera) || h.camera}: ${span(h.start, h.end)}`).join("; ");
    case "resolved": return x.outcome || "";
    case "closed":
      return [x.number, (x.parties || []).length ? t("cases.partiesText", { parties: x.parties.join(", ") }) : null, x.conclusion]
        .filter(Boolean).join(" — ");
    case "amended": return x.text || "";
    case "triggered": return x.source ? t("cases.source", { source: x.source }) : "";
    case "snapshot_taken": return (x.snapshots || []).map((s) => names.get(s.camera) || s.camera).join(", ");
    default: return "";
  }
}

function timeline(c, names) {
  const events = c.timeline || [];
  return el("ol", { class: "case-timeline" }, ...events.map((ev) => {
    const said = eventContent(ev, c, names);
    return el("li", { dataset: { kind: ev.kind } },
      el("time", { datetime: ev.at }, dateTime(ev.at)), " ",
      el("strong", {}, eventText(ev.kind)), ` · ${ev.actor}`,
      el("span", { class: "ho-notes" }, said ? `: ${said}` : ""));
  }));
}

function minutes(c) {
  const ba = c.berita_acara;
  if (!ba) return null;
  const base = `/api/v1/cases/${encodeURIComponent(c.id)}/berita-acara`;
  const file = `berita-acara-${(ba.number || c.id).replace(/[^A-Za-z0-9-]+/g, "-")}`;
  return el("section", { class: "stored ok minutes", dataset: { sha256: ba.pdf_sha256 || "" } },
    el("h3", {}, t("cases.minutes")),
    el("p", {}, t("cases.minutesSigned", { number: ba.number, who: ba.signed_by, at: dateTime(ba.at) })),
    el("p", {}, "SHA-256: ", digest(ba.pdf_sha256)),
    el("p", {}, pdfLink(`${base}.pdf`, `${file}.pdf`, t("cases.minutesPdf"), { asStored: true }), " ",
      pdfLink(`${base}.sig`, `${file}.sig`, t("cases.minutesSig"), { asStored: true })),
    el("p", { class: "note" }, t("cases.minutesKey", { key: ba.key_id || "–" })));
}

// c: the case (with its timeline); ctx: {who, directory, names (camera id -> name), onChanged}.
export function caseDetail(c, { who, directory, names, onChanged }) {
  const canStep = ["operator", "supervisor"].includes(who.role) && (c.state === "opened" || WORKING_STATES.has(c.state));
  return el("article", { class: "case-detail", dataset: { case: c.id, state: c.state } },
    el("h2", { id: "case-title", tabindex: "-1" }, c.title),
    el("p", { class: "case-badges" },
      el("span", { class: `kind kind-${c.kind}` }, kindText(c.kind)), " ",
      el("span", { class: `sev case-sev-${c.severity}` }, severityText(c.severity)), " ",
      el("span", { class: `case-state state-${c.state}` }, stateText(c.state)),
      c.escalations ? el("span", { class: "overdue" }, ` ${t("cases.escalatedTimes", { n: c.escalations })}`) : null,
      c.number ? el("span", { class: "note" }, ` ${c.number}`) : null),
    facts([
      ["cases.when", dateTime(c.at)],
      ["cases.openedBy", t("cases.openedByText", { who: c.opened_by, at: dateTime(c.opened_at) })],
      ["cases.cameras", cameraLinks(c, names)],
      ["cases.location", c.location],
      ["cases.category", c.category],
      ["cases.channel", c.channel ? channelText(c.channel) : null],
      ["cases.reporter", reporter(c)],
    ]),
    c.description ? el("p", { class: "ho-notes case-description" }, c.description) : null,
    ((pictures) => (pictures ? el("section", { class: "case-part" }, el("h3", {}, t("cases.pictures")), pictures) : null))(
      casePictures(c, names)),
    c.kind === "emergency" || (c.steps || []).length
      ? el("section", { class: "case-part" }, el("h3", {}, t("cases.steps")), stepList(c, { canCheck: canStep, onChanged }))
      : null,
    minutes(c),
    el("section", { class: "case-part" }, el("h3", {}, t("cases.actions")), caseActions(c, who, directory, onChanged, names)),
    (c.holds || []).length ? el("section", { class: "case-part" }, el("h3", {}, t("cases.holds")),
      el("ul", {}, ...c.holds.map((h) => el("li", { dataset: { hold: String(h.hold_id) } },
        `${names.get(h.camera) || h.camera}: ${span(h.start, h.end)}`)))) : null,
    el("section", { class: "case-part" }, el("h3", {}, t("cases.timeline")), timeline(c, names)));
}
