// What can be done to a case now, by state and role: acknowledge it; forward it to a directory
// contact or someone named, write a follow-up, resolve it; close it with its berita acara
// (supervisors); amend it (always, closed or not); export its cameras' recordings around it as
// evidence (the case's id on the job; the gateway decides who may). Each form posts to its route and hands the case
// the gateway returns to onChanged; a refusal (a 409 saying what to do instead) stays beside the
// form, in the gateway's words.
import { allowed, sendJSON } from "./api.js";
import { languages, t } from "./i18n.js";
import { CASE_ROLES, FORWARD_CHANNEL_ORDER, forwardChannelText, WORKING_STATES } from "./casewords.js";
import { exportDialog } from "./exportdialog.js";
import { el } from "./shell.js";

const TEXT_MAX = 20_000; // cases.text_max_chars' default; the gateway has the last word
// Around the case's moment when it holds no recordings to go by.
const EXPORT_AROUND_MS = 5 * 60000;

// A form control's value by name (form.action, form.title and the like are the form's own properties).
function value(form, name) {
  return form.elements.namedItem(name).value;
}

function field(key, control) {
  return el("label", { class: "stacked" }, el("span", {}, t(key)), control);
}

function textarea(name, { required = false, rows = 3 } = {}) {
  return el("textarea", { name, rows: String(rows), maxlength: String(TEXT_MAX), required });
}

// One action: a <details> holding a form (open: the action is the obvious next one).
function action(id, titleKey, submitKey, controls, send, { open = false, danger = false } = {}) {
  const error = el("div", { class: "form-error", role: "alert" });
  const button = el("button", { type: "submit", class: danger ? "danger" : "primary" }, t(submitKey));
  const form = el("form", { class: "stack case-form", id }, ...controls, button, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.replaceChildren();
    button.disabled = true;
    try {
      await send(form);
    } catch (err) {
      error.replaceChildren(el("p", { class: "error" }, err.message));
    }
    button.disabled = false;
  });
  return el("details", { class: "action", open, dataset: { action: id } }, el("summary", {}, t(titleKey)), form);
}

// The window to export for a case: what its holds cover, else five minutes either side of it.
export function caseWindow(c, now = Date.now()) {
  const holds = c.holds || [];
  if (holds.length) {
    const starts = holds.map((h) => Date.parse(h.start));
    const ends = holds.map((h) => (h.end ? Date.parse(h.end) : now));
    return [new Date(Math.min(...starts)), new Date(Math.min(Math.max(...ends), now))];
  }
  const at = Date.parse(c.at || c.opened_at);
  return [new Date(at - EXPORT_AROUND_MS), new Date(Math.min(at + EXPORT_AROUND_MS, now))];
}

// Export the case's cameras around it: the dialog, with the case set.
function exportPart(c, names) {
  const open = () => {
    const [from, to] = caseWindow(c);
    exportDialog({ cameras: c.cameras.map((id) => ({ id, name: names?.get(id) })), selected: c.cameras,
      start: from, end: to, caseId: c.id });
  };
  return el("details", { class: "action", dataset: { action: "case-export" } }, el("summary", {}, t("cases.export")),
    el("p", { class: "note" }, t("cases.exportIntro")),
    el("button", { type: "button", id: "case-export", onclick: open }, t("cases.exportOpen")));
}

// c: the case; who: the signed-in user; directory: the contacts; onChanged(case) after any action;
// names: camera id -> name.
export function caseActions(c, who, directory, onChanged, names = new Map()) {
  const path = (tail) => `/api/v1/cases/${encodeURIComponent(c.id)}/${tail}`;
  const post = async (tail, body) => onChanged(await sendJSON("POST", path(tail), body));
  const handles = CASE_ROLES.has(who.role);
  const parts = [];

  if (handles && c.state === "opened") {
    parts.push(action("case-ack", "cases.acknowledge", "cases.acknowledge",
      [field("cases.ackNote", el("input", { name: "note", maxlength: "2000" }))],
      (form) => post("acknowledgement", { note: value(form, "note") }), { open: true }));
  }

  if (handles && WORKING_STATES.has(c.state)) {
    const to = el("select", { name: "to" },
      ...directory.map((d) => el("option", { value: d.id }, d.phone ? `${d.name} (${d.phone})` : d.name)),
      el("option", { value: "" }, t("cases.someoneElse")));
    const name = el("input", { name: "name", maxlength: "200" });
    const nameField = field("cases.forwardName", name);
    const sync = () => { nameField.hidden = to.value !== ""; name.required = to.value === ""; };
    to.addEventListener("change", sync);
    sync();
    const channel = el("select", { name: "channel" },
      ...FORWARD_CHANNEL_ORDER.map((ch) => el("option", { value: ch }, forwardChannelText(ch))));
    parts.push(action("case-forward", "cases.forward", "cases.forward",
      [field("cases.forwardTo", to), nameField, field("cases.channel", channel), field("cases.note", textarea("note"))],
      (form) => post("forwards", { ...(to.value ? { to: to.value } : { name: name.value }),
        channel: channel.value, note: value(form, "note") })));
    parts.push(action("case-follow-up", "cases.followUp", "cases.followUpSave",
      [field("cases.followUpAction", textarea("action", { required: true }))],
      (form) => post("follow-ups", { action: value(form, "action") })));
    parts.push(action("case-resolve", "cases.resolve", "cases.resolve",
      [field("cases.outcome", textarea("outcome", { required: true }))],
      (form) => post("resolution", { outcome: value(form, "outcome") })));
  }

  if (c.state === "resolved" && allowed("supervisor", who.role)) {
    const language = el("select", { name: "language" },
      ...languages().map((code) => el("option", { value: code }, t(`lang.${code}`))));
    language.value = "id"; // the office's language; the form offers English too
    parts.push(action("case-close", "cases.close", "cases.closeSubmit",
      [el("p", { class: "note" }, t("cases.closeIntro")),
        field("cases.parties", textarea("parties", { rows: 3 })),
        field("cases.conclusion", textarea("conclusion", { required: true, rows: 4 })),
        field("cases.minutesLanguage", language)],
      (form) => post("closure", {
        parties: value(form, "parties").split("\n").map((p) => p.trim()).filter(Boolean),
        conclusion: value(form, "conclusion"), language: language.value,
      }), { open: true }));
  }

  if (handles) {
    parts.push(action("case-amend", "cases.amend", "cases.amendSave",
      [el("p", { class: "note" }, t("cases.amendIntro")), field("cases.amendText", textarea("text", { required: true }))],
      (form) => post("amendments", { text: value(form, "text") })));
  }
  const exporting = (c.cameras || []).length ? exportPart(c, names) : null;
  if (!parts.length) {
    const note = el("p", { class: "note" }, t(c.state === "resolved" ? "cases.waitsForClosure" : "cases.noActions"));
    return exporting ? el("div", { class: "actions" }, note, exporting) : note;
  }
  return el("div", { class: "actions" }, ...parts, exporting);
}
