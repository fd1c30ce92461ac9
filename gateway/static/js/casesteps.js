// An emergency's playbook steps, in order, each with whom to call (name, telephone, radio) and a
// check-off button (POST /api/v1/cases/{id}/steps/{step}); a done step says when and by whom.
// Shared by the case desk and the wall's emergency panel.
import { sendJSON } from "./api.js";
import { lang, t } from "./i18n.js";
import { stepText } from "./casewords.js";
import { el } from "./shell.js";
import { clock, dateTime } from "./timefmt.js";

function contactLine(contact) {
  if (!contact) return null;
  const ways = [contact.phone ? t("cases.phone", { phone: contact.phone }) : null,
    contact.radio ? t("cases.radio", { radio: contact.radio }) : null,
    contact.email || null].filter(Boolean);
  return el("span", { class: "contact" }, t("cases.call", { name: contact.name }),
    ways.length ? ` — ${ways.join(", ")}` : "");
}

// c: the case; canCheck: this user may check steps off now; onChanged(case) after a check-off.
export function stepList(c, { canCheck, onChanged }) {
  const steps = c.steps || [];
  const error = el("div", { class: "form-error", role: "alert" });
  const items = steps.map((step) => {
    const done = !!step.done_at;
    const button = done || !canCheck ? null : el("button", { type: "button", class: "primary step-done",
      dataset: { step: step.id },
      onclick: async () => {
        button.disabled = true;
        error.replaceChildren();
        try {
          onChanged(await sendJSON("POST", `/api/v1/cases/${encodeURIComponent(c.id)}/steps/${encodeURIComponent(step.id)}`,
            { note: "" }));
        } catch (err) {
          button.disabled = false;
          error.replaceChildren(el("p", { class: "error" }, err.message));
        }
      } }, t("cases.stepDone"));
    return el("li", { class: done ? "step done" : "step", dataset: { step: step.id } },
      el("span", { class: "step-text" }, stepText(step, lang())), " ",
      contactLine(step.contact),
      done ? el("span", { class: "ok step-by" }, " ✓ ", el("time", { datetime: step.done_at, title: dateTime(step.done_at) },
        t("cases.stepDoneBy", { at: clock(step.done_at), who: step.done_by || "" }))) : null,
      step.note ? el("span", { class: "note" }, ` (${step.note})`) : null,
      button ? " " : null, button);
  });
  return el("div", { class: "steps" },
    items.length ? el("ol", { class: "step-list" }, ...items) : el("p", { class: "note" }, t("cases.noSteps")), error);
}
