// The handovers other operators filed and nobody has countersigned yet (SOP step 2): each in full,
// with a field for objections and the two ways to accept. Accepting stores the countersignature and
// the PDF as accepted; nobody countersigns their own handover (the gateway refuses it too).
import { getJSON, sendJSON } from "./api.js";
import { storedNote } from "./deskrecord.js";
import { handoverContent, handoverMeta } from "./handoverview.js";
import { t } from "./i18n.js";
import { pdfLink } from "./pdf.js";
import { el } from "./shell.js";
import { dateTime } from "./timefmt.js";

const OBJECTIONS_MAX = 20_000; // desk.notes_max_chars' default

export class PendingHandovers {
  constructor(who, container, result, onChange) {
    this.who = who;
    this.container = container;
    this.result = result;
    this.onChange = onChange;
    this.handovers = [];
    this.objections = new Map(); // handover id -> the text typed so far (kept across redraws)
    this.drawn = null;
  }

  async refresh() {
    try {
      const { handovers } = await getJSON("/api/v1/handovers?pending=true");
      const others = handovers.filter((h) => h.operator !== this.who.username);
      // Unchanged: no redraw under the reader's eyes (and cursor).
      const drawn = JSON.stringify(others.map((h) => [h.id, h.sha256, (h.amendments || []).length]));
      this.handovers = others;
      if (drawn !== this.drawn) this.draw();
      this.drawn = drawn;
    } catch (err) {
      this.drawn = null;
      this.container.replaceChildren(el("p", { class: "error", role: "alert" }, err.message));
    }
  }

  draw() {
    const keep = document.activeElement?.closest?.("[data-handover]")?.dataset.handover;
    this.container.replaceChildren(...this.handovers.length
      ? this.handovers.map((h) => this.card(h))
      : [el("p", { class: "note" }, t("acc.none"))]);
    if (keep) this.container.querySelector(`[data-handover="${CSS.escape(keep)}"] textarea`)?.focus();
  }

  card(h) {
    const id = encodeURIComponent(h.id);
    const objections = el("textarea", { rows: "3", maxlength: String(OBJECTIONS_MAX), class: "objections-input" });
    objections.value = this.objections.get(h.id) || "";
    objections.addEventListener("input", () => this.objections.set(h.id, objections.value));
    const out = el("div", { role: "alert" });
    const accept = async (withObjections) => {
      out.replaceChildren();
      const text = objections.value.trim();
      if (withObjections && !text) { out.append(el("p", { class: "error" }, t("acc.needObjections"))); objections.focus(); return; }
      if (!withObjections && text) { out.append(el("p", { class: "error" }, t("acc.clearObjections"))); objections.focus(); return; }
      try {
        const done = await sendJSON("POST", `/api/v1/handovers/${id}/acceptance`, { objections: text });
        this.objections.delete(h.id);
        const a = done.acceptance || {};
        this.result.replaceChildren(storedNote("acc.done", { who: h.operator }, a.at, a.sha256,
          `/api/v1/handovers/${id}/pdf`, `serah-terima-${h.id.slice(0, 8)}.pdf`, { asStored: true }));
        await this.onChange();
        this.result.scrollIntoView?.({ block: "nearest" });
      } catch (err) {
        out.append(el("p", { class: "error" }, t("acc.failed", { detail: err.message })));
      }
    };
    return el("article", { class: "card", dataset: { handover: h.id } },
      el("h3", {}, t("acc.from", { who: h.operator, slot: h.content?.slot || t("ho.noSlot"), at: dateTime(h.filed_at) })),
      handoverMeta(h),
      el("p", {}, pdfLink(`/api/v1/handovers/${id}/pdf`, `serah-terima-${h.id.slice(0, 8)}.pdf`)),
      handoverContent(h.content),
      el("label", { class: "stacked" }, el("span", {}, t("acc.objections")), objections),
      el("div", { class: "toolbar" },
        el("button", { type: "button", class: "primary accept", onclick: () => accept(false) }, t("acc.accept")),
        el("button", { type: "button", class: "accept-objections", onclick: () => accept(true) }, t("acc.acceptObjections"))),
      out);
  }
}
