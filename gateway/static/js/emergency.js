// The wall in an emergency (related SOPs 1-6): when a case.opened alert of an emergency arrives,
// every wall shows exactly the playbook's cameras under a red header naming the procedure, and an
// operator's wall lists its steps with check-off buttons beside them. The wall goes back to its own
// layout when someone acknowledges the case (case.acknowledged, or case.closed) or on "Back to the
// wall". A display (a viewer) receives the alert for the cameras it may see, once per camera.
import { allowed, getJSON, sendJSON } from "./api.js";
import { lang, t } from "./i18n.js";
import { CASE_ROLES, playbookName } from "./casewords.js";
import { stepList } from "./casesteps.js";
import { el } from "./shell.js";
import { clock } from "./timefmt.js";

const STEPS_REFRESH_MS = 5000; // another operator's check-off raises no alert

// The emergency an alert opens, or null: {id, cameras, playbook, title, by, at}.
export function emergencyOf(alert) {
  const d = alert?.details || {};
  if (alert?.kind !== "case.opened" || d.kind !== "emergency" || !d.case) return null;
  const cameras = String(d.cameras || "").split(",").map((c) => c.trim()).filter(Boolean);
  return { id: String(d.case), cameras, playbook: d.playbook || null, title: d.title || "", by: d.by || "", at: alert.at };
}

export class EmergencyWall {
  // stream: the wall's EventStream (not yet started); header, panel: the page's places for the red
  // header and the steps; onChange(): the wall redraws (its cameras are `cameras`).
  constructor(stream, who, { header, panel, onChange }) {
    this.who = who;
    this.header = header;
    this.panel = panel;
    this.onChange = onChange;
    this.active = null;
    this.current = null; // GET /api/v1/cases/{id}, for the steps
    this.playbooks = null;
    this.dismissed = new Set();
    this.operator = !who.display && CASE_ROLES.has(who.role);
    this.timer = null;
    this.error = null;
    stream.before(() => this.seed());
    stream.on("alert", (alert) => this.take(alert));
    document.addEventListener("pantau:lang", () => this.render());
  }

  // The camera ids to show, or null outside an emergency (or one that names none).
  get cameras() { return this.active?.cameras.length ? this.active.cameras : null; }

  async loadPlaybooks() {
    if (this.playbooks !== null) return;
    try {
      ({ playbooks: this.playbooks } = await getJSON("/api/v1/playbooks"));
    } catch {
      this.playbooks = []; // a display may not read them: the header names the case instead
    }
  }

  // A wall opened during an emergency nobody has acknowledged yet shows it (those who read cases).
  async seed() {
    if (!allowed("operator", this.who.role) || this.who.display) return;
    try {
      const { cases } = await getJSON("/api/v1/cases?state=opened&kind=emergency");
      const newest = [...cases].sort((a, b) => Date.parse(b.opened_at) - Date.parse(a.opened_at))[0];
      if (newest && !this.active) {
        this.start({ id: newest.id, cameras: newest.cameras || [], playbook: newest.playbook, title: newest.title,
          by: newest.opened_by, at: newest.opened_at });
      }
    } catch { /* no cases on this gateway, or not for this role */ }
  }

  take(alert) {
    const opened = emergencyOf(alert);
    if (opened) {
      if (opened.id !== this.active?.id && !this.dismissed.has(opened.id)) this.start(opened);
      return;
    }
    if (["case.acknowledged", "case.closed"].includes(alert?.kind) && alert.details?.case === this.active?.id) this.end();
  }

  start(emergency) {
    this.active = emergency;
    this.current = null;
    document.body.dataset.emergency = emergency.id;
    this.render();
    this.onChange();
    this.loadPlaybooks().then(() => this.render());
    if (this.operator) {
      this.loadCase();
      clearInterval(this.timer);
      this.timer = setInterval(() => { if (document.visibilityState === "visible") this.loadCase(); }, STEPS_REFRESH_MS);
    }
  }

  end() {
    if (!this.active) return;
    this.dismissed.add(this.active.id);
    this.active = null;
    this.current = null;
    clearInterval(this.timer);
    delete document.body.dataset.emergency;
    this.render();
    this.onChange();
  }

  async loadCase() {
    const id = this.active?.id;
    if (!id) return;
    try {
      const c = await getJSON(`/api/v1/cases/${encodeURIComponent(id)}`);
      if (this.active?.id !== id) return;
      if (c.state !== "opened") { this.end(); return; } // acknowledged meanwhile
      this.current = c;
      this.error = null;
    } catch (err) {
      this.error = err.message;
    }
    this.renderPanel();
  }

  name() {
    const playbook = (this.playbooks || []).find((p) => p.id === this.active.playbook);
    return playbook ? playbookName(playbook, lang()) : this.active.title || this.active.playbook || "";
  }

  render() {
    this.header.hidden = !this.active;
    if (!this.active) {
      this.header.replaceChildren();
      this.renderPanel();
      return;
    }
    const a = this.active;
    const name = this.name();
    this.header.replaceChildren(...[
      el("h2", { class: "emergency-title" }, t("emerg.heading", { name })),
      el("p", { class: "emergency-line" },
        [a.title && a.title !== name ? a.title : null, t("emerg.openedAt", { at: clock(a.at), by: a.by || "?" })]
          .filter(Boolean).join(" · "),
        this.operator ? el("a", { href: `/static/cases.html#case=${encodeURIComponent(a.id)}` }, ` ${t("cases.open")}`) : null),
      this.cameras ? null : el("p", { class: "emergency-line" }, t("emerg.noCameras")),
      el("button", { type: "button", id: "emergency-back", onclick: () => this.end() }, t("emerg.back")),
    ].filter(Boolean));
    this.renderPanel();
  }

  renderPanel() {
    const show = !!this.active && this.operator;
    this.panel.hidden = !show;
    this.panel.parentElement?.classList.toggle("with-steps", show);
    if (!show) { this.panel.replaceChildren(); return; }
    const error = el("div", { class: "form-error", role: "alert" });
    const ack = el("button", { type: "button", class: "primary", id: "emergency-ack", onclick: async () => {
      ack.disabled = true;
      try {
        await sendJSON("POST", `/api/v1/cases/${encodeURIComponent(this.active.id)}/acknowledgement`, { note: "" });
        this.end();
      } catch (err) {
        ack.disabled = false;
        error.replaceChildren(el("p", { class: "error" }, err.message));
      }
    } }, t("cases.acknowledge"));
    this.panel.replaceChildren(
      el("h2", {}, t("cases.steps")),
      this.current
        ? stepList(this.current, { canCheck: true, onChanged: (c) => { this.current = c; this.renderPanel(); } })
        : el("p", { class: "note" }, this.error || t("emerg.loading")),
      ack, error);
  }
}
