// Playback requests as table rows, shared by the operators' and the supervisors' pages.
import { t } from "./i18n.js";
import { el } from "./shell.js";
import { dateTime } from "./timefmt.js";

// Views used: of each camera ("gate 1/3, lobby 0/3") when max_views counts per camera, else in total.
export function viewsText(d) {
  if (d.views_per === "camera" && d.camera_views) {
    return t("req.viewsPerCamera", { list: Object.entries(d.camera_views).map(([c, n]) => `${c} ${n}/${d.max_views}`).join(", ") });
  }
  return t("req.viewsTotal", { views: d.views_used, max: d.max_views });
}

// Copies granted and used, or what was asked for while the request waits.
export function copiesText(r, d) {
  if (d && d.copies) return t("req.copiesText", { used: d.copies_used, copies: d.copies });
  if (d && r.copies) return t("req.replayOnly");
  return r.copies ? t("req.copiesAsked", { n: r.copies }) : null;
}

// The disposition a request led to (views used, copies, validity, revocation), if the caller may see it.
function dispositionCell(r, d) {
  const copies = copiesText(r, d);
  if (!d) return el("td", {}, copies || "–");
  return el("td", {}, viewsText(d), el("br"), t("req.validUntil", { expires: dateTime(d.expires_at) }),
    copies ? el("div", {}, copies) : null,
    d.revoked_at ? el("div", { class: "error" }, t("req.revoked", { at: dateTime(d.revoked_at) })) : null);
}

export function verdictText(v) {
  return `${v.by}: ${t(`verdict.${v.verdict}`)}${v.copies_approved ? ` (${t("req.withCopies")})` : ""}`;
}

export function requestRow(r, dispositions = new Map()) {
  const verdicts = r.verdicts.map((v) => `${verdictText(v)}${v.note ? ` (${v.note})` : ""}`).join("; ");
  return el("tr", { dataset: { request: r.id } },
    el("td", {}, dateTime(r.created_at)),
    el("td", {}, el("span", { class: `badge status-${r.status}` }, t(`status.${r.status}`))),
    el("td", {}, `${r.party_name} · ${r.party_organisation}`, el("br"), el("span", { class: "note" }, r.purpose)),
    el("td", {}, r.cameras.join(", ")),
    el("td", {}, `${dateTime(r.start)} – ${dateTime(r.end)}`),
    el("td", {}, `${r.letter.number} (${r.letter.date})`),
    el("td", {}, r.requester),
    el("td", {}, verdicts),
    dispositionCell(r, dispositions.get(r.id)));
}

export function requestHead() {
  return el("tr", {}, ...["req.filed", "req.status", "req.party", "req.cameras", "req.window", "req.letter",
    "req.requester", "req.verdicts", "req.disposition"].map((key) => el("th", { scope: "col", dataset: { i18n: key } })));
}
