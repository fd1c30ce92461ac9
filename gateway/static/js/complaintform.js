// A citizen's complaint (pengaduan) taken by the operator: how it came in, who made it (personal
// data: the gateway keeps it from roles that may not see it and logs only its hash), where, the
// category, what happened, and optionally the cameras and a time window whose recordings it holds.
import { sendJSON } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./shell.js";
import { fromLocalInput, toLocalInput } from "./timefmt.js";

// cases.categories' defaults (core/casesconfig.py): no route gives the configured list yet.
export const DEFAULT_CATEGORIES = ["kemacetan", "kecelakaan", "kriminalitas", "kebakaran", "banjir", "fasilitas umum", "lainnya"];

export class ComplaintForm {
  // form: the <form id="complaint-form">; onFiled(case) after the gateway stored it.
  constructor(form, { onFiled }) {
    this.form = form;
    this.onFiled = onFiled;
    this.error = form.querySelector("#complaint-error");
    this.cameraBox = form.querySelector("#complaint-cameras");
    form.addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    this.reset();
  }

  setCameras(cameras) {
    const ticked = new Set([...this.cameraBox.querySelectorAll("input:checked")].map((i) => i.value));
    const legend = this.cameraBox.querySelector("legend");
    this.cameraBox.replaceChildren(legend, ...cameras.map((c) => el("label", {},
      el("input", { type: "checkbox", name: "cameras", value: c.id, checked: ticked.has(c.id) }), c.name || c.id)));
  }

  setCategories(categories) {
    const list = this.form.querySelector("#complaint-categories");
    list.replaceChildren(...categories.map((c) => el("option", { value: c })));
  }

  reset() {
    this.form.reset();
    this.field("at").value = toLocalInput(new Date());
  }

  // A control by name (form.title and form.action would be the form's own properties).
  field(name) {
    return this.form.elements.namedItem(name);
  }

  body() {
    const v = (name) => this.field(name).value;
    const iso = (name) => (v(name) ? fromLocalInput(v(name)).toISOString() : null);
    const reporter = { name: v("reporter_name").trim(), contact: v("reporter_contact").trim() };
    const body = {
      kind: "complaint", title: v("title"), channel: v("channel"), severity: v("severity"),
      category: v("category").trim() || null, location: v("location"), description: v("description"),
      at: iso("at") || new Date().toISOString(),
      cameras: [...this.cameraBox.querySelectorAll("input:checked")].map((i) => i.value),
    };
    if (reporter.name || reporter.contact) body.reporter = reporter;
    const [start, end] = [iso("window_start"), iso("window_end")];
    if (start || end) Object.assign(body, { window_start: start, window_end: end });
    return body;
  }

  async send() {
    const button = this.form.querySelector("button[type=submit]");
    this.error.replaceChildren();
    button.disabled = true;
    try {
      const filed = await sendJSON("POST", "/api/v1/cases", this.body());
      this.reset();
      this.onFiled(filed);
    } catch (err) {
      this.error.replaceChildren(el("p", { class: "error" }, t("complaint.failed", { detail: err.message })));
    }
    button.disabled = false;
  }
}
