// A patrol as it is walked (SOP step 4), without the page: for each camera, how long it was the
// front tile while the page was visible, whether the officer acknowledged it, skipped it or wrote a
// report. The tour tells it which camera is in front and when the page hides; the hidden preloaded
// tile is never in front, so it never counts. The clocks are injected for the page's own checks.
export const MIN_SHOWN_S = 1; // shown less than this, and not acknowledged: skipped

export class PatrolRecorder {
  constructor({ now = () => performance.now(), wall = () => new Date() } = {}) {
    this.now = now;
    this.wall = wall;
    this.active = false;
    this.cameras = new Map();
  }

  start(group, cameraIds, visible = true) {
    this.active = true;
    this.group = group;
    this.startedAt = this.wall().toISOString();
    this.cameras = new Map();
    for (const id of cameraIds) this.entry(id);
    this.front = null;
    this.since = null;
    this.visible = visible;
  }

  entry(id) {
    let e = this.cameras.get(id);
    if (!e) {
      e = { camera: id, shownMs: 0, acknowledged: false, skipped: false, report: "" };
      this.cameras.set(id, e);
    }
    return e;
  }

  // Close the running stretch of the front camera and start the next one if it counts.
  settle() {
    const at = this.now();
    if (this.front !== null && this.since !== null) this.entry(this.front).shownMs += at - this.since;
    this.since = this.front !== null && this.visible ? at : null;
  }

  // `id` is the front tile now (null: none).
  show(id) {
    if (!this.active || id === this.front) return;
    this.settle(); // the camera leaving the front gets its stretch
    this.front = id;
    if (id !== null) this.entry(id);
    this.since = id !== null && this.visible ? this.now() : null;
  }

  setVisible(visible) {
    if (!this.active || visible === this.visible) return;
    this.settle();
    this.visible = visible;
    this.settle();
  }

  acknowledge(id = this.front) {
    if (!this.active || id === null) return;
    Object.assign(this.entry(id), { acknowledged: true, skipped: false });
  }

  skip(id = this.front) {
    if (!this.active || id === null) return;
    Object.assign(this.entry(id), { acknowledged: false, skipped: true });
  }

  report(id, text) {
    if (this.active && id !== null) this.entry(id).report = text;
  }

  shownSeconds(id) {
    const e = this.cameras.get(id);
    if (!e) return 0;
    const running = id === this.front && this.since !== null ? this.now() - this.since : 0;
    return (e.shownMs + running) / 1000;
  }

  // The body of POST /api/v1/patrols for the cameras of `memberIds` (the group now) and any other
  // camera shown during the patrol. The patrol goes on until stop(): a failed send can be retried.
  body(memberIds = []) {
    for (const id of memberIds) this.entry(id);
    const order = [...new Set([...memberIds, ...this.cameras.keys()])];
    return {
      group: this.group || "",
      started_at: this.startedAt,
      ended_at: this.wall().toISOString(),
      cameras: order.map((id) => {
        const e = this.cameras.get(id);
        const shown = Math.round(this.shownSeconds(id) * 10) / 10;
        const skipped = e.skipped || (shown < MIN_SHOWN_S && !e.acknowledged);
        return { camera: id, shown_s: shown, acknowledged: e.acknowledged, skipped, report: e.report };
      }),
    };
  }

  stop() {
    this.settle();
    this.active = false;
    this.front = null;
    this.since = null;
  }
}
