// A camera's up or down: the polled camera list (GET /api/v1/cameras, every few seconds) corrected
// by the camera.offline / camera.online alerts pushed over the event stream the moment they happen.
// The newer word wins: an alert stands until a poll reports a state change after it, so the poll
// that was already on its way when the alert came cannot undo it, and the next poll agreeing
// changes nothing but the details (next retry time, figures).
const UP = new Set(["online", "degraded"]);
export const PUSHED_KINDS = ["camera.offline", "camera.online"];

// Down: offline, or connecting again after a failure (a first connect is not a failure).
export function isDown(camera) {
  return camera.state === "offline" || (camera.state === "connecting" && camera.attempt > 0);
}

// The camera to show: `camera` as polled, or as the newer pushed alert says.
export function reconcile(camera, pushed) {
  if (!pushed || camera.state === "disabled") return camera;
  const since = Date.parse(camera.since || "");
  if (since > pushed.at) return camera; // the poll saw a later change
  if (pushed.up) {
    if (UP.has(camera.state)) return camera;
    return { ...camera, state: "online", reason: "", attempt: 0, next_retry_at: null, problems: [],
      since: pushed.atText };
  }
  if (isDown(camera)) return camera;
  return { ...camera, state: "offline", reason: pushed.reason, attempt: 0, next_retry_at: null, since: pushed.atText };
}

// The newest camera.online / camera.offline alert per camera.
export class PushedStates {
  constructor() {
    this.byCamera = new Map();
  }

  // Takes any alert; returns its camera id when it changed that camera's state, else null.
  take(alert) {
    if (!alert || typeof alert.camera !== "string" || !PUSHED_KINDS.includes(alert.kind)) return null;
    const at = Date.parse(alert.at);
    if (!Number.isFinite(at)) return null;
    const old = this.byCamera.get(alert.camera);
    if (old && (old.at > at || old.seq >= alert.seq)) return null; // replayed, or older than what we have
    this.byCamera.set(alert.camera, {
      up: alert.kind === "camera.online", at, atText: alert.at, seq: alert.seq, reason: alert.details?.reason || "",
    });
    return alert.camera;
  }

  reconcile(camera) {
    return reconcile(camera, this.byCamera.get(camera.id));
  }
}
