// The officer's word on one camera or item of equipment in a check: the tick (checked), a second
// tick when something is wrong, and a remark. Not ticked: stored as not checked. A problem ticked
// or a remark written ticks "checked" too (nobody notes a fault on what they did not look at).
import { t } from "./i18n.js";
import { el } from "./shell.js";

export const REMARK_MAX = 1000; // desk.remark_max_chars' default; the gateway refuses longer ones

export class Verdict {
  constructor(name) {
    this.tick = el("input", { type: "checkbox", class: "tick" });
    this.problem = el("input", { type: "checkbox", class: "problem" });
    this.remark = el("input", { class: "wide remark", maxlength: String(REMARK_MAX) });
    this.label(name);
    this.problem.addEventListener("change", () => { if (this.problem.checked) this.tick.checked = true; });
    this.remark.addEventListener("input", () => { if (this.remark.value.trim()) this.tick.checked = true; });
    this.tick.addEventListener("change", () => { if (!this.tick.checked) this.problem.checked = false; });
  }

  label(name) {
    this.tick.setAttribute("aria-label", t("check.checked", { name }));
    this.problem.setAttribute("aria-label", t("check.problemOn", { name }));
    this.remark.setAttribute("aria-label", t("check.note", { name }));
  }

  // The cells of the row, in the table's column order.
  cells() {
    return [el("td", {}, this.tick), el("td", {}, this.problem), el("td", {}, this.remark)];
  }

  // {ok, remark}, or null when not checked.
  entry() {
    if (!this.tick.checked) return null;
    return { ok: !this.problem.checked, remark: this.remark.value.trim() };
  }
}
