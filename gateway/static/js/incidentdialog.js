// Report an incident from what one is looking at (SOP step 5: the irregular reported at once): a
// small dialog pre-filled with the camera and the moment (now on the wall, the player's time on the
// replay page); the operator types a title, and Send opens the case (POST /api/v1/cases). The
// gateway holds the camera's recordings around it and alerts leadership.
import { sendJSON } from "./api.js";
import { t } from "./i18n.js";
import { SEVERITY_ORDER, severityText } from "./casewords.js";
import { el } from "./shell.js";
import { dateTime, fromLocalInput, toLocalInput } from "./timefmt.js";

let shown = null; // the open dialog, if any: one at a time

function field(key, control) {
  return el("label", {}, el("span", {}, t(key)), control);
}

// Opens the dialog for `camera` ({id, name}) at `at` (a Date); live: what is on screen is the
// camera now (the wall), not a recording.
export function reportIncident(camera, at = new Date(), { live = true } = {}) {
  shown?.remove();
  const title = el("input", { name: "title", required: true, maxlength: "200", autocomplete: "off" });
  const severity = el("select", { name: "severity" },
    ...SEVERITY_ORDER.map((s) => el("option", { value: s }, severityText(s))));
  severity.value = "high";
  const when = el("input", { name: "at", type: "datetime-local", step: "1", value: toLocalInput(at) });
  const description = el("textarea", { name: "description", rows: "3", maxlength: "20000" });
  // The gateway keeps the camera's picture of this moment with the case (from the live stream:
  // the replay's moment is in the held recordings instead).
  const snapshot = el("input", { type: "checkbox", name: "snapshot", checked: live });
  const error = el("div", { class: "form-error", role: "alert" });
  const send = el("button", { type: "submit", class: "primary", id: "incident-send" }, t("incident.send"));
  const cancel = el("button", { type: "button", id: "incident-cancel", onclick: () => dialog.close() }, t("incident.cancel"));
  const form = el("form", { class: "stack", id: "incident-form" },
    el("p", { class: "incident-camera" }, t("incident.camera", { camera: camera.name || camera.id })),
    field("incident.title", title),
    el("div", { class: "row" }, field("cases.severity", severity), field("cases.when", when)),
    field("incident.description", description),
    live ? el("label", { class: "inline" }, snapshot, el("span", {}, t("incident.snapshot"))) : null,
    el("div", { class: "toolbar" }, send, cancel), error);
  const done = el("div", { id: "incident-done", role: "status" });
  const dialog = el("dialog", { id: "incident-dialog", class: "incident-dialog", "aria-labelledby": "incident-heading" },
    el("h2", { id: "incident-heading" }, t("incident.heading")), form, done);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.replaceChildren();
    send.disabled = true;
    try {
      const c = await sendJSON("POST", "/api/v1/cases", {
        kind: "incident", cameras: [camera.id], title: title.value, severity: severity.value,
        description: description.value, at: (fromLocalInput(when.value) || new Date()).toISOString(),
        snapshot: live && snapshot.checked,
      });
      form.hidden = true;
      dialog.dataset.case = c.id;
      done.replaceChildren(el("p", { class: "ok" }, t("incident.opened", { id: c.id, at: dateTime(c.opened_at) })),
        el("p", {}, el("a", { href: `/static/cases.html#case=${encodeURIComponent(c.id)}`, id: "incident-link" },
          t("cases.open"))),
        el("button", { type: "button", id: "incident-close", onclick: () => dialog.close() }, t("incident.close")));
      done.querySelector("#incident-close").focus();
    } catch (err) {
      error.replaceChildren(el("p", { class: "error" }, err.message));
    }
    send.disabled = false;
  });
  dialog.addEventListener("close", () => dialog.remove());
  shown = dialog;
  document.body.append(dialog);
  dialog.showModal();
  title.focus();
  return dialog;
}

// The tile's (or the player's) button: "Report", which opens the dialog.
export function reportButton(getCamera, getAt = () => new Date()) {
  return el("button", { type: "button", class: "report", dataset: { i18n: "incident.report" },
    onclick: (event) => { event.stopPropagation(); reportIncident(getCamera(), getAt()); } }, t("incident.report"));
}
