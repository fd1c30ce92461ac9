// The recent desk records the caller may read (an operator: their own; a supervisor: everyone's):
// checks, patrols and handovers, each with its digest and its PDF.
import { getJSON } from "./api.js";
import { t } from "./i18n.js";
import { pdfLink } from "./pdf.js";
import { el } from "./shell.js";
import { dateTime, span } from "./timefmt.js";

const LIMIT = 20;

function head(...keys) {
  return el("thead", {}, el("tr", {}, ...keys.map((k) => el("th", { scope: "col" }, t(k)))));
}

function short(sha) {
  return el("code", { class: "sha", title: sha || "" }, (sha || "").slice(0, 16));
}

function table(node, keys, rows) {
  node.replaceChildren(head(...keys),
    el("tbody", {}, ...rows.length ? rows : [el("tr", {}, el("td", { colspan: String(keys.length), class: "note" }, t("ho.none")))]));
}

function checkRow(c) {
  const cams = c.cameras || [];
  const equipment = c.equipment || [];
  const summary = t("hist.checkSummary", {
    checked: cams.filter((x) => x.checked).length, total: cams.length,
    problems: cams.filter((x) => x.checked && !x.ok).length + equipment.filter((x) => x.checked && !x.ok).length,
  });
  return el("tr", { dataset: { check: c.id } }, el("td", {}, dateTime(c.at)), el("td", {}, c.operator), el("td", {}, summary),
    el("td", {}, short(c.sha256)),
    el("td", {}, pdfLink(`/api/v1/checks/${encodeURIComponent(c.id)}/pdf`, `pemeriksaan-${c.id.slice(0, 8)}.pdf`)));
}

function patrolRow(p) {
  const cams = p.cameras || [];
  const summary = t("hist.patrolSummary", {
    acknowledged: cams.filter((x) => x.acknowledged).length, skipped: cams.filter((x) => x.skipped).length,
    total: cams.length, group: p.group || t("wall.allGroups"),
  });
  return el("tr", { dataset: { patrol: p.id } }, el("td", {}, span(p.started_at, p.ended_at)), el("td", {}, p.operator),
    el("td", {}, summary), el("td", {}, short(p.sha256)),
    el("td", {}, pdfLink(`/api/v1/patrols/${encodeURIComponent(p.id)}/pdf`, `patroli-${p.id.slice(0, 8)}.pdf`)));
}

function handoverRow(h) {
  const a = h.acceptance;
  const path = `/api/v1/handovers/${encodeURIComponent(h.id)}/pdf`;
  const name = `serah-terima-${h.id.slice(0, 8)}.pdf`;
  const state = a
    ? el("span", { class: "ok" }, t("ho.acceptedBy", { who: a.operator, at: dateTime(a.at) }),
      a.objections ? ` — ${t("ho.objections")}: ${a.objections}` : "")
    : el("span", { class: "warn" }, t("ho.waiting"));
  return el("tr", { dataset: { handover: h.id } }, el("td", {}, dateTime(h.filed_at)), el("td", {}, h.operator),
    el("td", {}, state), el("td", {}, short(h.sha256)),
    el("td", {}, pdfLink(path, name), a ? " " : null, a ? pdfLink(path, name, t("desk.pdfAccepted"), { asStored: true }) : null));
}

export class DeskHistory {
  constructor(checks, patrols, handovers, error) {
    Object.assign(this, { checksNode: checks, patrolsNode: patrols, handoversNode: handovers, error });
    this.lists = { checks: [], patrols: [], handovers: [] };
  }

  async refresh() {
    const problems = [];
    await Promise.all(["checks", "patrols", "handovers"].map(async (kind) => {
      try {
        this.lists[kind] = (await getJSON(`/api/v1/${kind}?limit=${LIMIT}`))[kind];
      } catch (err) {
        problems.push(`${kind}: ${err.message}`);
      }
    }));
    this.error.replaceChildren(...problems.map((p) => el("p", { class: "error" }, p)));
    this.draw();
  }

  draw() {
    table(this.checksNode, ["hist.at", "ho.operator", "hist.result", "hist.sha", "desk.pdf"], this.lists.checks.map(checkRow));
    table(this.patrolsNode, ["ho.period", "ho.operator", "hist.result", "hist.sha", "desk.pdf"], this.lists.patrols.map(patrolRow));
    table(this.handoversNode, ["hist.filed", "ho.operator", "hist.state", "hist.sha", "desk.pdf"],
      this.lists.handovers.map(handoverRow));
  }
}
