// Export evidence from what one is looking at (the recordings page, a case): a dialog pre-filled
// with the cameras and the window, where the operator gives the reason, the formats (the sealed
// bundle, MP4s with a UTC time code) and, when there is one, the playback request and the case.
// Create posts the job (POST /api/v1/exports) and goes to it on the exports page; a refusal (a
// camera this role may not export, a window too old) stays in the dialog in the gateway's words.
import { sendJSON } from "./api.js";
import { t } from "./i18n.js";
import { formatText } from "./exportjobs.js";
import { el } from "./shell.js";
import { fromLocalInput, toLocalInput } from "./timefmt.js";

let shown = null; // one dialog at a time

function field(key, control) {
  return el("label", {}, el("span", {}, t(key)), control);
}

// cameras: [{id, name}] offered; selected: the ids ticked; start, end: Dates; caseId, requestId:
// pre-filled (optional). Resolves nothing: Create navigates to the job.
export function exportDialog({ cameras, selected = [], start, end, caseId = "", requestId = "" }) {
  shown?.close();
  const ticked = new Set(selected);
  const cameraBoxes = cameras.map((c) => el("label", { class: "inline" },
    el("input", { type: "checkbox", name: "camera", value: c.id, checked: ticked.has(c.id) }),
    el("span", {}, c.name && c.name !== c.id ? `${c.name} (${c.id})` : c.id)));
  const from = el("input", { name: "start", type: "datetime-local", step: "1", required: true, value: toLocalInput(start) });
  const to = el("input", { name: "end", type: "datetime-local", step: "1", required: true, value: toLocalInput(end) });
  const reason = el("textarea", { name: "reason", rows: "2", required: true, maxlength: "2000" });
  const formatBoxes = ["bundle", "mp4"].map((f) => el("label", { class: "inline" },
    el("input", { type: "checkbox", name: "format", value: f, checked: f === "bundle" }),
    el("span", {}, formatText(f))));
  const request = el("input", { name: "request_id", maxlength: "100", value: requestId, placeholder: "req_…", autocomplete: "off" });
  const caseField = el("input", { name: "case_id", maxlength: "100", value: caseId, autocomplete: "off" });
  const error = el("div", { class: "form-error", role: "alert" });
  const create = el("button", { type: "submit", class: "primary", id: "export-create" }, t("exp.create"));
  const cancel = el("button", { type: "button", id: "export-cancel", onclick: () => dialog.close() }, t("exp.close"));
  const form = el("form", { class: "stack", id: "export-form" },
    el("fieldset", { id: "export-cameras" }, el("legend", {}, t("exp.cameras")), ...cameraBoxes),
    el("div", { class: "row" }, field("exp.start", from), field("exp.end", to)),
    field("exp.reason", reason),
    el("fieldset", { id: "export-formats" }, el("legend", {}, t("exp.formats")), ...formatBoxes,
      el("p", { class: "note" }, t("exp.formatsHelp"))),
    el("div", { class: "row" }, field("exp.requestId", request), field("exp.caseId", caseField)),
    el("div", { class: "toolbar" }, create, cancel), error);
  const dialog = el("dialog", { id: "export-dialog", class: "export-dialog", "aria-labelledby": "export-heading" },
    el("h2", { id: "export-heading" }, t("exp.heading")), form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.replaceChildren();
    const chosen = (name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
    const picked = chosen("camera");
    const formats = chosen("format");
    const startAt = fromLocalInput(from.value);
    const endAt = fromLocalInput(to.value);
    const wrong = !picked.length ? "exp.needCamera" : !formats.length ? "exp.needFormat"
      : !(startAt < endAt) ? "exp.needWindow" : null;
    if (wrong) { error.replaceChildren(el("p", { class: "error" }, t(wrong))); return; }
    create.disabled = true;
    try {
      const job = await sendJSON("POST", "/api/v1/exports", {
        cameras: picked, start: startAt.toISOString(), end: endAt.toISOString(), reason: reason.value.trim(),
        formats, ...(request.value.trim() ? { request_id: request.value.trim() } : {}),
        ...(caseField.value.trim() ? { case_id: caseField.value.trim() } : {}),
      });
      dialog.dataset.job = job.id;
      location.assign(`/static/exports.html#job=${encodeURIComponent(job.id)}`);
    } catch (err) {
      error.replaceChildren(el("p", { class: "error" }, err.message));
      create.disabled = false;
    }
  });
  dialog.addEventListener("close", () => { dialog.remove(); if (shown === dialog) shown = null; });
  shown = dialog;
  document.body.append(dialog);
  dialog.showModal();
  reason.focus();
  return dialog;
}
