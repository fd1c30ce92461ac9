// The patrol controls on the camera tour (operators): start, acknowledge the camera in front (key
// "a"), skip it and step on (key "s"), write a report on it, finish, which stores the patrol
// with the open shift. document.body.dataset.patrol says "recording" or "idle".
import { getJSON, sendJSON } from "./api.js";
import { failureNote, SHIFT_PAGE, storedNote } from "./deskrecord.js";
import { t } from "./i18n.js";
import { PatrolRecorder } from "./patrol.js";
import { el } from "./shell.js";
import { REMARK_MAX } from "./verdict.js";

// `tour`: what the bar needs of the tour: current() (the front camera or null), members() (the
// group's cameras), group(), lock(on) (no other group while recording), restart() (back to the
// first camera), step(delta), and paused (get and set).
export class PatrolBar {
  constructor(tour) {
    this.tour = tour;
    this.recorder = new PatrolRecorder();
    const $ = (id) => document.getElementById(id);
    Object.assign(this, {
      bar: $("patrol-bar"), startButton: $("patrol-start"), ackButton: $("patrol-ack"), skipButton: $("patrol-skip"),
      reportButton: $("patrol-report"), finishButton: $("patrol-finish"), status: $("patrol-status"),
      form: $("patrol-report-form"), reportInput: $("patrol-report-text"), reportLabel: $("patrol-report-label"),
      shownText: $("patrol-shown"), result: $("patrol-result"), error: $("patrol-error"),
    });
    this.reportInput.maxLength = REMARK_MAX;
    this.reporting = null; // the camera the open report form is about, and the pause before it
    this.bar.hidden = false;
    this.startButton.addEventListener("click", () => this.start());
    this.ackButton.addEventListener("click", () => this.acknowledge());
    this.skipButton.addEventListener("click", () => this.skip());
    this.reportButton.addEventListener("click", () => this.openReport());
    this.finishButton.addEventListener("click", () => this.finish());
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.closeReport(true); });
    document.getElementById("patrol-report-cancel").addEventListener("click", () => this.closeReport(false));
    this.form.addEventListener("keydown", (event) => { if (event.key === "Escape") this.closeReport(false); });
    this.render();
  }

  get recording() { return this.recorder.active; }

  async start() {
    this.result.replaceChildren();
    this.error.replaceChildren();
    try {
      const { mine } = await getJSON("/api/v1/shifts/current");
      if (!mine) {
        this.error.replaceChildren(el("p", { class: "error" }, t("desk.signOnFirst"), " ",
          el("a", { href: SHIFT_PAGE, class: "to-shift" }, t("desk.toShift"))));
        return;
      }
    } catch (err) {
      this.error.replaceChildren(el("p", { class: "error" }, err.message));
      return;
    }
    this.recorder.start(this.tour.group(), this.tour.members().map((c) => c.id), document.visibilityState === "visible");
    this.tour.restart();
    this.render();
  }

  // The tour's front camera changed (or the page's visibility did).
  shown(cameraId) { this.recorder.show(cameraId); this.render(); }
  visibility(visible) { this.recorder.setVisible(visible); this.render(); }

  acknowledge() {
    if (!this.recording) return;
    this.recorder.acknowledge(this.tour.current()?.id ?? null);
    this.render();
  }

  skip() {
    if (!this.recording) return;
    this.recorder.skip(this.tour.current()?.id ?? null);
    this.tour.step(1);
    this.render();
  }

  // Keys "a" and "s" while recording; true when the key was ours.
  key(event) {
    if (!this.recording || event.ctrlKey || event.metaKey || event.altKey) return false;
    if (event.key === "a") { this.acknowledge(); return true; }
    if (event.key === "s") { this.skip(); return true; }
    return false;
  }

  openReport() {
    const cam = this.tour.current();
    if (!this.recording || !cam) return;
    this.reporting = { id: cam.id, paused: this.tour.paused };
    this.tour.paused = true; // the camera stays in front while the officer writes
    this.reportLabel.textContent = t("patrol.reportOn", { name: cam.name || cam.id });
    this.reportInput.value = this.recorder.cameras.get(cam.id)?.report || "";
    this.form.hidden = false;
    this.reportButton.setAttribute("aria-expanded", "true");
    this.reportInput.focus();
  }

  closeReport(save) {
    if (!this.reporting) return;
    if (save) this.recorder.report(this.reporting.id, this.reportInput.value.trim());
    this.tour.paused = this.reporting.paused;
    this.reporting = null;
    this.form.hidden = true;
    this.reportButton.setAttribute("aria-expanded", "false");
    this.reportButton.focus();
    this.render();
  }

  async finish() {
    if (!this.recording) return;
    this.closeReport(true);
    this.error.replaceChildren();
    this.finishButton.disabled = true;
    try {
      const patrol = await sendJSON("POST", "/api/v1/patrols", this.recorder.body(this.tour.members().map((c) => c.id)));
      this.recorder.stop();
      this.result.replaceChildren(storedNote("patrol.saved", {}, patrol.ended_at, patrol.sha256,
        `/api/v1/patrols/${encodeURIComponent(patrol.id)}/pdf`, `patroli-${patrol.id.slice(0, 8)}.pdf`));
      document.body.dataset.patrolId = patrol.id;
    } catch (err) {
      // The patrol goes on recording: sign on in another tab, then finish again.
      this.error.replaceChildren(failureNote(err, { newTab: true }));
    }
    this.finishButton.disabled = false;
    this.render();
  }

  render() {
    const on = this.recording;
    document.body.dataset.patrol = on ? "recording" : "idle";
    this.tour.lock(on);
    this.startButton.hidden = on;
    for (const button of [this.ackButton, this.skipButton, this.reportButton, this.finishButton]) button.hidden = !on;
    if (!on) { this.status.textContent = ""; this.shownText.textContent = ""; return; }
    const cams = [...this.recorder.cameras.values()];
    const cam = this.tour.current();
    const e = cam ? this.recorder.cameras.get(cam.id) : null;
    const mark = !e ? "" : e.acknowledged ? t("patrol.isAcknowledged") : e.skipped ? t("patrol.isSkipped") : "";
    this.ackButton.setAttribute("aria-pressed", String(!!e?.acknowledged));
    // The live region changes with the officer's marks only; the seconds tick beside it, silently.
    const text = t("patrol.recording", { acknowledged: cams.filter((c) => c.acknowledged).length, total: cams.length })
      + (mark ? ` · ${mark}` : "");
    if (this.status.textContent !== text) this.status.textContent = text;
    this.shownText.textContent = cam ? t("patrol.shown", { s: Math.floor(this.recorder.shownSeconds(cam.id)) }) : "";
  }
}
