// Playback requests as table rows, shared by the operators' and the supervisors' pages.
import { t } from "./i18n.js";
import { el } from "./shell.js";
import { dateTime } from "./timefmt.js";

// The disposition a request led to (views used, validity, revocation), if the caller may see it.
function dispositionCell(d) {
  if (!d) return el("td", {}, "–");
  const text = t("req.dispositionText", { views: d.views_used, max: d.max_views, expires: dateTime(d.expires_at) });
  return el("td", {}, text, d.revoked_at ? el("div", { class: "error" }, t("req.revoked", { at: dateTime(d.revoked_at) })) : null);
}

export function requestRow(r, dispositions = new Map()) {
  const verdicts = r.verdicts.map((v) => `${v.by}: ${t(`verdict.${v.verdict}`)}${v.note ? ` (${v.note})` : ""}`).join("; ");
  return el("tr", { dataset: { request: r.id } },
    el("td", {}, dateTime(r.created_at)),
    el("td", {}, el("span", { class: `badge status-${r.status}` }, t(`status.${r.status}`))),
    el("td", {}, `${r.party_name} · ${r.party_organisation}`, el("br"), el("span", { class: "note" }, r.purpose)),
    el("td", {}, r.cameras.join(", ")),
    el("td", {}, `${dateTime(r.start)} – ${dateTime(r.end)}`),
    el("td", {}, `${r.letter.number} (${r.letter.date})`),
    el("td", {}, r.requester),
    el("td", {}, verdicts),
    dispositionCell(dispositions.get(r.id)));
}

export function requestHead() {
  return el("tr", {}, ...["req.filed", "req.status", "req.party", "req.cameras", "req.window", "req.letter",
    "req.requester", "req.verdicts", "req.disposition"].map((key) => el("th", { scope: "col", dataset: { i18n: key } })));
}
