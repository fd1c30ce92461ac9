// The case desk's list: open cases first (oldest first, as the gateway sends them), each with its
// kind, severity, title, cameras and state, and live timers: how long it has been open and, until
// someone acknowledges it, how long before it escalates (and how often it already did).
import { t } from "./i18n.js";
import { escalationDue, kindText, severityText, stateText } from "./casewords.js";
import { el } from "./shell.js";
import { dateTime, hms } from "./timefmt.js";

export class CaseList {
  // table: the <table>; rules: {ackTimeoutS, playbooks} for the escalation clock; names: camera id -> name.
  constructor(table) {
    this.table = table;
    this.cases = [];
    this.rules = {};
    this.names = new Map();
    this.selected = null;
    this.timers = []; // [{case, opened cell, escalation cell}]
  }

  show(cases, rules, names) {
    this.cases = cases;
    this.rules = rules;
    this.names = names;
    this.draw();
  }

  select(id) {
    this.selected = id;
    for (const row of this.table.querySelectorAll("tr[data-case]")) {
      row.classList.toggle("selected", row.dataset.case === id);
      row.querySelector("a.case-title")?.setAttribute("aria-current", row.dataset.case === id ? "true" : "false");
    }
  }

  draw() {
    this.timers = [];
    const head = el("thead", {}, el("tr", {},
      ...["cases.kind", "cases.severity", "cases.title", "cases.cameras", "cases.state", "cases.openFor", "cases.escalation"]
        .map((key) => el("th", { scope: "col" }, t(key)))));
    const rows = this.cases.map((c) => this.row(c));
    if (rows.length) this.table.replaceChildren(head, el("tbody", {}, ...rows));
    else this.table.replaceChildren(el("caption", { class: "note" }, t("cases.none")));
    this.tick();
  }

  row(c) {
    const opened = el("td", { class: "timer" });
    const escalation = el("td", { class: "timer" });
    this.timers.push({ c, opened, escalation });
    const cameras = (c.cameras || []).map((id) => this.names.get(id) || id).join(", ");
    return el("tr", { dataset: { case: c.id, state: c.state, kind: c.kind },
      class: `sev-${c.severity}${c.id === this.selected ? " selected" : ""}` },
    el("td", {}, el("span", { class: `kind kind-${c.kind}` }, kindText(c.kind))),
    el("td", {}, el("span", { class: `sev case-sev-${c.severity}` }, severityText(c.severity))),
    el("td", {}, el("a", { class: "case-title", href: `#case=${encodeURIComponent(c.id)}`,
      "aria-current": c.id === this.selected ? "true" : "false" }, c.title),
    c.number ? el("span", { class: "note" }, ` ${c.number}`) : null),
    el("td", {}, cameras || "–"),
    el("td", {}, el("span", { class: `case-state state-${c.state}` }, stateText(c.state))),
    opened, escalation);
  }

  // Every second: the timers only (the rows stay, so focus and selection do too).
  tick(now = Date.now()) {
    for (const { c, opened, escalation } of this.timers) {
      const end = c.closed_at ? Date.parse(c.closed_at) : now;
      opened.textContent = hms((end - Date.parse(c.opened_at)) / 1000);
      opened.title = dateTime(c.opened_at);
      const due = escalationDue(c, this.rules);
      const times = c.escalations ? t("cases.escalatedTimes", { n: c.escalations }) : "";
      let left = "";
      if (due !== null) left = due > now ? t("cases.escalatesIn", { left: hms((due - now) / 1000) }) : t("cases.escalationDue");
      else if (c.state === "opened") left = t("cases.notAcknowledged");
      escalation.textContent = [left, times].filter(Boolean).join(" · ");
      escalation.classList.toggle("overdue", c.state === "opened" && (c.escalations > 0 || (due !== null && due <= now)));
    }
  }
}
